"""The turn's steps as the operators see them: ``with turn_step("decide", ...) as step:``
times the step (``backoffice_turn_step_duration_seconds``), traces it (a span ``turn.decide``
with the decision as attributes) and binds the conversation's ids to the logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.observability import context, metrics, tracing

log = logging.getLogger("turns")


@contextmanager
def turn_step(
    step: str, *, conversation_id: Any = None, tenant_id: Any = None, **attributes: Any
) -> Iterator[tracing.Step]:
    start = time.perf_counter()
    with (
        context.bound(conversation_id=conversation_id, tenant_id=tenant_id),
        metrics.timed(metrics.turn_steps, step=step),
        tracing.span(
            f"turn.{step}", conversation_id=conversation_id, tenant_id=tenant_id, **attributes
        ) as span,
    ):
        yield span
        # ids and codes only: the customer's words never go to the logs
        log.debug("turn step %s: %.1f ms", step, (time.perf_counter() - start) * 1000)


def turn_done(result: Any) -> str | None:
    """A turn's outcome was applied (answered, silent, dropped): counted; returned for the
    span. None: it was applied already (a second delivery)."""
    outcome = str(result.reply_status) if result is not None else None
    metrics.turn_done(outcome)
    if result is not None:
        log.info("turn %s applied: %s", result.ai_turn, outcome)
    return outcome
