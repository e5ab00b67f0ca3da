"""The house move (issue 16) loses nothing: on a database filled by ``seed_demo`` and
``manage.py simulate``, migrate back to before the move's state-only migrations and forward
again; every table keeps its rows, the moved models keep their content types (same ids, so the
admin's history and the permissions that point at them follow), and their admin pages open.

Slow (two full migration runs); CI runs it on PostgreSQL and on the embedded default."""

from __future__ import annotations

import importlib
import io
import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.urls import NoReverseMatch, reverse

from core.models import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# model name -> (app before the move, app after it), as the move's content-type step reads it
MOVED: dict[str, tuple[str, str]] = importlib.import_module(
    "orchestration.migrations.0015_the_house_moves"
).MOVED

# The apps the move made: migrating ``core`` to zero unapplies every migration that depends
# on it, and so every state-only migration of the move (``*_the_house_moves`` and the new apps'
# ``0001_initial``), and the migrations after them.
NEW_APPS = ("core", "conversations", "insight")


# Not data: configuration generations (core.config_version) only tell processes that a cache
# is stale. The table is core's own, so it goes with core to zero; made again, it starts new
# numbers, all past the old ones.
NOT_DATA = {"core_configgeneration"}


def row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        tables = sorted(set(connection.introspection.table_names(cursor)) - NOT_DATA)
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def moved_models():
    return {name: apps.get_model(new, name) for name, (_old, new) in MOVED.items()}


def applied() -> set[tuple[str, str]]:
    return set(MigrationRecorder(connection).applied_migrations())


def migrate(*args: str) -> None:
    call_command("migrate", *args, interactive=False, verbosity=0, stdout=io.StringIO())
    ContentType.objects.clear_cache()


@pytest.fixture
def filled(eager_tasks):
    """The demo tenant, after simulated traffic."""
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command(
        "simulate", conversations=8, progress=False, json=True, stdout=out, stderr=io.StringIO()
    )
    assert json.loads(out.getvalue())["api_errors"] == {}, out.getvalue()
    return Tenant.objects.get(slug="demo")


def test_back_to_before_the_move_and_forward_again_loses_nothing(filled):
    models = moved_models()
    # a person allowed by Django's permissions to change every moved model, and an admin
    # history entry: both point at the moved models' content types
    clerk = get_user_model().objects.create_user(username="clerk", password="x", is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(
            codename__in=[f"change_{name}" for name in MOVED],
            content_type__in=[
                ContentType.objects.get_for_model(m, for_concrete_model=False)
                for m in models.values()
            ],
        )
    )
    assert clerk.user_permissions.count() == len(MOVED)
    boss = get_user_model().objects.create_superuser(username="boss", password="x")
    LogEntry.objects.log_actions(
        user_id=boss.pk, queryset=[filled], action_flag=CHANGE, change_message="Renamed"
    )
    content_types = {
        name: ContentType.objects.get_for_model(m, for_concrete_model=False).pk
        for name, m in models.items()
    }
    keys = {name: set(m._base_manager.values_list("pk", flat=True)) for name, m in models.items()}
    labels = set(ContentType.objects.values_list("pk", "app_label", "model"))
    before = row_counts()
    assert before["orchestration_conversation"] > 0 and before["orchestration_message"] > 0
    assert before["orchestration_decisionevent"] > 0 and before["orchestration_tenant"] == 1

    migrate("core", "zero")

    undone = applied()
    assert not [m for m in undone if m[0] in NEW_APPS or m[1].endswith("_the_house_moves")]
    # the content types went back to the apps the models lived in
    for name, (old, _new) in MOVED.items():
        assert ContentType.objects.filter(app_label=old, model=name).exists(), name
    back = row_counts()
    assert back["orchestration_message"] == before["orchestration_message"]
    # the tables that migrations made after the move (and that depend on ``core``) are gone,
    # as reversing any migration drops what it made: never a table of a moved model
    made_after = set(before) - set(back)
    moved_tables = {m._meta.db_table for m in models.values()}
    assert not made_after & moved_tables
    kept = set(back) - {"django_migrations"}  # the rest keep their rows
    assert {t: back[t] for t in kept} == {t: before[t] for t in kept}

    migrate()

    assert applied() >= {("core", "0001_initial"), ("orchestration", "0015_the_house_moves")}
    after = row_counts()
    assert set(after) == set(before)
    assert {t: n for t, n in after.items() if t not in made_after} == {
        t: n for t, n in before.items() if t not in made_after
    }
    assert set(ContentType.objects.values_list("pk", "app_label", "model")) == labels
    models = moved_models()
    assert {
        name: set(m._base_manager.values_list("pk", flat=True)) for name, m in models.items()
    } == keys
    for name, model in models.items():
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        assert content_type.pk == content_types[name], name
        assert content_type.app_label == model._meta.app_label, name
        assert content_type.model_class() is model, name
    clerk = get_user_model().objects.get(pk=clerk.pk)  # no cached permissions
    for name, model in models.items():
        assert clerk.has_perm(f"{model._meta.app_label}.change_{name}"), name
    entry = LogEntry.objects.get()
    assert entry.get_edited_object() == filled

    client = Client()
    client.force_login(boss)
    history = client.get(reverse("admin:core_tenant_history", args=[filled.pk]))
    assert history.status_code == 200
    assert "Renamed" in history.content.decode()
    opened = 0
    for model in models.values():
        if model not in admin.site._registry:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        listing = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert listing.status_code == 200, info
        row = model._default_manager.order_by("pk").first()
        try:
            change = reverse("admin:{}_{}_change".format(*info), args=[row.pk]) if row else None
        except NoReverseMatch:  # a read-only page without change views (the dashboard)
            change = None
        if change:
            assert client.get(change).status_code == 200, info
            opened += 1
    assert opened >= 5  # tenant, keys, approver group, conversation, settings
