"""A tenant's response target became the per-priority response targets of the orchestrator
settings (agents 0005 copied it there)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_config_generation'),
        ('agents', '0005_response_targets'),  # it reads response_target first
    ]

    operations = [
        migrations.RemoveField(
            model_name='tenant',
            name='response_target',
        ),
    ]
