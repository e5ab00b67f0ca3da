"""Configuration generations in the database (core/config_version.py): the process that
changes configuration sees it at once, a rollback leaves nothing behind, a check costs one
query and happens at most once per CONFIG_CHECK_SECONDS, and a change made by another process
(``manage.py shell``) reaches this one within the interval, snapshots included."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from agents.models import Agent
from bench._procs import wait_until
from core import config_version
from core.config_version import GLOBAL_KEY, config_changed, generation, generation_key
from orchestration.tenant_config import tenant_config
from tests.factories import TenantFactory
from tests.runner.processes import manage_on_test_database, need_postgresql


@pytest.mark.django_db(transaction=True)
def test_a_change_is_seen_at_once_by_its_process_and_a_rollback_leaves_nothing(tenant):
    scope = generation_key(tenant.pk)
    before = generation(scope)

    with transaction.atomic():
        config_changed(tenant.pk)
        during = generation(scope)
        assert during != before  # this process reads its own change before the commit
    after = generation(scope)
    assert after not in (before, during)

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        config_changed(tenant.pk)
        config_version.check_now()  # would read the uncommitted bump on this connection
        assert generation(scope) != after
        raise Undone
    assert generation(scope) == after
    config_version.check_now()
    assert generation(scope) == after


@pytest.mark.django_db(transaction=True)
def test_a_scope_never_changed_reads_the_epoch_whatever_else_changes(tenant):
    config_version.forget()
    other = TenantFactory(slug="other")
    untouched = generation(generation_key(other.pk))

    config_changed(tenant.pk)
    config_changed(None)

    assert generation(generation_key(other.pk)) == untouched
    assert generation(GLOBAL_KEY) != untouched


@pytest.mark.django_db(transaction=True)
def test_a_check_is_one_query_and_between_checks_reads_cost_none(
    tenant, settings, django_assert_num_queries
):
    config_version.forget()
    generation(GLOBAL_KEY)  # the first check of a process also learns the epoch

    with django_assert_num_queries(0):  # within the interval
        for _ in range(100):
            generation(GLOBAL_KEY)
            generation(generation_key(tenant.pk))
    settings.CONFIG_CHECK_SECONDS = 0
    with django_assert_num_queries(1):  # due: the rows that moved since the last check
        generation(generation_key(tenant.pk))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_change_by_another_process_reaches_this_one_within_the_interval(tenant, settings):
    need_postgresql()
    agent = Agent.objects.create(tenant=tenant, slug="agent-a", name="Before", role="supervisor")
    assert tenant_config(tenant).agents[agent.pk].name == "Before"
    settings.CONFIG_CHECK_SECONDS = 0.2

    manage_on_test_database(
        "from agents.models import Agent; from agents.services import agent_update; "
        f"agent_update(agent=Agent.objects.get(pk={agent.pk}), name='After')"
    )

    wait_until(
        lambda: tenant_config(tenant).agents[agent.pk].name == "After",
        what="the snapshot built from the other process's change",
    )
    assert connection.vendor == "postgresql"
