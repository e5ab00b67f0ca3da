from django.db import migrations
from django.db.models import Sum


def count_stored(apps, schema_editor):
    """What each tenant's files already take (core.FileUsage counts from here on)."""
    Attachment = apps.get_model("conversations", "Attachment")
    FileUsage = apps.get_model("core", "FileUsage")
    totals = Attachment.objects.values("tenant_id").annotate(total=Sum("size"))
    FileUsage.objects.bulk_create(
        FileUsage(tenant_id=row["tenant_id"], bytes=row["total"] or 0) for row in totals
    )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0012_conversation_tags"),
        ("core", "0006_tenant_files"),
    ]

    operations = [migrations.RunPython(count_stored, migrations.RunPython.noop)]
