"""Sockets opened and closed (by close code) are counted; a refused socket is not opened."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from config.asgi import application
from tests.handover.test_consumers import ORIGIN, _open_conversation_with_token
from tests.sockets import Socket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def conversation(tenant):
    """A conversation of the tenant's team and its customer token."""
    from tests.factories import TO_PEOPLE, make_team

    make_team(tenant, **TO_PEOPLE)
    return _open_conversation_with_token(tenant)


async def test_sockets_opened_and_closed_by_code_are_counted(conversation):
    conv, token = conversation
    opened = sample("backoffice_socket_connections_opened_total")
    closed = sample("backoffice_socket_connections_closed_total", code="1000")

    refused = Socket(application, f"/ws/conversations/{conv.pk}/?token=ct_nope", headers=[ORIGIN])
    assert await refused.connect() == (False, 4401)
    customer = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    connected, _ = await customer.connect()
    assert connected
    await customer.disconnect(code=1000)

    assert sample("backoffice_socket_connections_opened_total") == opened + 1
    assert sample("backoffice_socket_connections_closed_total", code="1000") == closed + 1


async def test_a_process_with_an_open_socket_reports_how_late_its_event_loop_runs(conversation):
    conv, token = conversation
    seen = sample("backoffice_event_loop_lag_seconds_count")
    late = sample("backoffice_event_loop_lag_seconds_bucket", le="0.1")
    customer = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    assert (await customer.connect())[0]

    await asyncio.sleep(0.05)  # the probe has set its first timer (due 0.25 s after)
    time.sleep(0.5)  # the loop's thread is held past it
    await asyncio.sleep(0.6)

    assert sample("backoffice_event_loop_lag_seconds_count") >= seen + 2  # every quarter second
    # the held timer landed above 0.1 s (the bucket of 0.1 s and below did not take all of them)
    assert sample("backoffice_event_loop_lag_seconds_bucket", le="0.1") < (
        late + sample("backoffice_event_loop_lag_seconds_count") - seen
    )
    await customer.disconnect()
