"""A concurrent supervisor's consultation against a sequential one: three specialists that
each take ``--delay`` seconds (local webhook endpoints), asked at once versus one after another.

    .venv/bin/python bench/consult.py [--delay 1.0] [--runs 3]

The run phase of a turn (``orchestration.agent_runs.run_plan``) is timed as it runs in the
product, on plans built by hand (no database: the run phase touches none). Prints the median
wall time of each pattern and the gain. Aim: the concurrent turn within 1.5x one specialist's
delay, the sequential one about three delays.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._llm import answer_json  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

SPECIALISTS = ("billing", "shipping", "returns")


def serve(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            answer_json(self, f'{{"reply": "{self.path.strip("/")} says yes"}}'.encode())

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("RUNTIME_ALLOW_PRIVATE_NETWORKS", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from agents.runtimes import AgentSpec, TurnContext
    from core.secret_store import seal
    from orchestration.agent_runs import Consultation, FanOut, RunPlan, Speaker, run_plan

    server = serve(args.delay)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    secret = seal("s" * 20)
    specs = [
        Speaker(
            id=i + 2,
            spec=AgentSpec(
                slug=name,
                name=name.title(),
                domains=(name,),
                runtime="webhook",
                runtime_config={"url": f"{url}/{name}"},
                runtime_secret=secret,
            ),
        )
        for i, name in enumerate(SPECIALISTS)
    ]
    lead = Speaker(id=1, spec=AgentSpec(slug="lead", name="Lead", role="supervisor"))
    context = TurnContext(
        tenant_name="Bench", agent=lead.spec, conversation_id="c", channel="web", message="hello"
    )

    def plan(**extra) -> RunPlan:
        return RunPlan(
            conversation_id="c",
            turn=1,
            message_id=1,
            context=context,
            speaker=lead,
            rule_context={},
            limits={"steps": 100},
            used={},
            **extra,
        )

    # sequential: the chain asks one specialist, which asks the next (the product's sequential
    # consultation is a chain of supervisors, one answer at each depth)
    chain = None
    for depth, speaker in reversed(list(enumerate(specs))):
        source = "lead" if depth == 0 else specs[depth - 1].slug
        chain = Consultation(from_slug=source, to=speaker, depth=depth, inner=chain)
    sequential = plan(consultation=chain)
    concurrent = plan(fan_out=FanOut(from_slug="lead", to=tuple(specs), seconds=args.delay * 5))

    def timed(p: RunPlan) -> float:
        started = time.perf_counter()
        outcome = run_plan(p)
        took = time.perf_counter() - started
        asked = [e for e in outcome.events if getattr(e.event, "answered", None)]
        assert len(asked) == len(SPECIALISTS) and outcome.reply and outcome.reply.text, outcome
        if p.fan_out is not None:  # the supervisor folded every answer
            assert all(f"{n} says yes" in outcome.reply.text for n in SPECIALISTS)
        return took

    timed(concurrent)  # warm up (imports, the first connection)
    seq = percentile([timed(sequential) for _ in range(args.runs)], 50)
    con = percentile([timed(concurrent) for _ in range(args.runs)], 50)
    server.shutdown()
    print(f"three specialists of {args.delay:.2f} s each, median of {args.runs} turns")
    print(f"  sequential consultation  {seq:6.3f} s")
    print(f"  concurrent consultation  {con:6.3f} s")
    print(f"  gain                     {seq / con:6.2f}x")
    emit(
        "consult",
        [
            figure("specialist delay", args.delay, "s"),
            figure(
                "concurrent turn", con, "s", f"<= {1.5 * args.delay:g} s", con <= 1.5 * args.delay
            ),
            figure("sequential turn", seq, "s"),
            figure("gain", seq / con, "x", ">= 2", seq / con >= 2),
        ],
        command_line("bench/consult.py"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
