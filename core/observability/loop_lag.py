"""How late a web process's event loop runs: the probe behind ``backoffice_event_loop_lag_seconds``.

Every socket of a process (its events from the channel layer, its frames) and every request's
bytes go through the process's one event loop; when the loop falls behind (its thread waits for
the CPU, or for the GIL behind the request threads), every socket event waits with it. The probe
sets a timer every ``INTERVAL`` seconds on the loop and observes how late it fires. It starts
with the loop's first socket (``watch``, from the consumers' ``accept``), once per loop, and
ends with the loop.
"""

from __future__ import annotations

import asyncio
import weakref

from core.observability import metrics

INTERVAL = 0.25

# each loop's probe (held here: a task nobody references may be collected mid-run)
_probes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


def watch() -> None:
    """Start the probe on the running loop, unless it runs there already."""
    loop = asyncio.get_running_loop()
    if loop not in _probes:
        _probes[loop] = loop.create_task(_probe(loop), name="event-loop-lag")


async def _probe(loop: asyncio.AbstractEventLoop) -> None:
    while True:
        due = loop.time() + INTERVAL
        await asyncio.sleep(INTERVAL)
        metrics.loop_lag(max(0.0, loop.time() - due))
