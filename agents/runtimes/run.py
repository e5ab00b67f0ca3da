"""The one entry to the runtimes: dispatch on the agent's runtime, never raise."""

from __future__ import annotations

import logging
import time

from agents.runtimes import builtin, openai, webhook
from agents.runtimes.base import RUNTIMES, AgentReply, TurnContext, failed
from agents.runtimes.http import HttpPolicy
from core.observability.metrics import agent_call

logger = logging.getLogger("agents.runtimes.base")


def run_agent(ctx: TurnContext, *, http_policy: HttpPolicy | None = None) -> AgentReply:
    """Let ``ctx.agent``'s runtime answer ``ctx.message``. Never raises.

    ``http_policy`` overrides the network runtimes' timeouts, retries and backoff (defaults:
    :func:`agents.runtimes.http.current_policy`, from the module constants and the
    ``AGENT_RUNTIME_HTTP`` setting).
    """
    started = time.perf_counter()
    runtime = getattr(getattr(ctx, "agent", None), "runtime", None)
    try:
        if runtime == "builtin":
            reply = builtin.run(ctx)
        elif runtime == "openai":
            reply = openai.run(ctx, policy=http_policy)
        elif runtime == "webhook":
            reply = webhook.run(ctx, policy=http_policy)
        else:
            reply = failed(f"unknown runtime '{runtime}' (known: {', '.join(RUNTIMES)})")
    except Exception as exc:  # a runtime must never take the orchestrator down
        logger.exception("agent runtime %s failed", runtime)
        reply = failed(
            f"the {runtime} runtime failed unexpectedly: {type(exc).__name__}: {exc}"[:500],
            detail={"runtime": runtime, "exception": type(exc).__name__},
        )
    reply.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    agent_call(runtime, reply.duration_ms / 1000, failed=reply.error is not None)
    return reply
