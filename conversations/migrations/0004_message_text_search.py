"""A GIN index for the full-text search of messages (conversations/search.py), on PostgreSQL
only: the expression is the one the search's query writes, so the planner uses it. SQLite (the
embedded default) searches with LIKE and gets no index."""

from django.db import migrations

INDEX = "message_text_search"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON orchestration_message "
        "USING gin (to_tsvector('simple'::regconfig, COALESCE(text, '')))"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0003_private_notes")]

    operations = [migrations.RunPython(create, drop)]
