"""Four foreign keys lose the index of their own: another index begins with the same column
(issue 17: every customer message wrote an entry in each, for nothing).

Only the indexes are dropped: Django's AlterField would drop and add the foreign key again,
which on PostgreSQL checks every row of the table under a lock; the constraints stay as they
are. The names are Django's, the same on PostgreSQL and SQLite.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = (
    "orchestration_conversation_tenant_id_070fc64f",  # conv_tenant_created and others
    "orchestration_decisionevent_conversation_id_5a681b35",  # event_conv_id
    "orchestration_decisionevent_tenant_id_ec6e0575",  # event_tenant_type_time
    "orchestration_message_conversation_id_d281d3a1",  # message_conv_id
)
RECREATED = (
    'CREATE INDEX IF NOT EXISTS "orchestration_conversation_tenant_id_070fc64f" '
    'ON "orchestration_conversation" ("tenant_id")',
    'CREATE INDEX IF NOT EXISTS "orchestration_decisionevent_conversation_id_5a681b35" '
    'ON "orchestration_decisionevent" ("conversation_id")',
    'CREATE INDEX IF NOT EXISTS "orchestration_decisionevent_tenant_id_ec6e0575" '
    'ON "orchestration_decisionevent" ("tenant_id")',
    'CREATE INDEX IF NOT EXISTS "orchestration_message_conversation_id_d281d3a1" '
    'ON "orchestration_message" ("conversation_id")',
)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0019_chat_identity"),
        ("core", "0014_chat_look"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name in DROPPED],
                    reverse_sql=list(RECREATED),
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="conversation",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversations",
                        to="core.tenant",
                    ),
                ),
                migrations.AlterField(
                    model_name="decisionevent",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="conversations.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="decisionevent",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="core.tenant",
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="conversations.conversation",
                    ),
                ),
            ],
        )
    ]
