"""``manage.py simulate``: synthetic customer conversations through the API, and a summary of
what the orchestrator did (see ``orchestration/simulation.py``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from tools.simulation import (
    HttpTransport,
    InProcessTransport,
    Progress,
    SimulationError,
    contained_side_effects,
    run_simulation,
    simulation_key,
    tenant_for_simulation,
)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Drive synthetic customer conversations through the API (in this process, or over "
        "HTTP with --base-url) and print what the orchestrator did."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo", help="Tenant slug (in process). [demo]")
        parser.add_argument("--conversations", type=_positive, default=50, help="[50]")
        parser.add_argument("--seed", type=int, default=7, help="Seed of the scripts. [7]")
        parser.add_argument(
            "--base-url",
            default="",
            help="Talk HTTP to a running server instead, e.g. "
            "http://127.0.0.1:8000 (needs --api-key).",
        )
        parser.add_argument("--api-key", default="", help="Tenant API key for --base-url.")
        parser.add_argument("--concurrency", type=_positive, default=1, help="Workers. [1]")
        progress = parser.add_mutually_exclusive_group()
        progress.add_argument(
            "--progress",
            dest="progress",
            action="store_true",
            default=None,
            help="Draw the progress bar on stderr even when it is not a terminal.",
        )
        progress.add_argument(
            "--no-progress", dest="progress", action="store_false", help="No progress bar."
        )
        parser.set_defaults(progress=None)
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args, **options):
        try:
            if options["base_url"]:
                if not options["api_key"]:
                    raise CommandError("--base-url needs --api-key (a key of the tenant).")
                base_url, key = options["base_url"], options["api_key"]
                summary = self._run(lambda: HttpTransport(base_url, key), options)
            else:
                if options["api_key"]:
                    raise CommandError("--api-key goes with --base-url.")
                tenant = tenant_for_simulation(options["tenant"])
                with simulation_key(tenant) as raw, contained_side_effects() as outbox:
                    summary = self._run(lambda: InProcessTransport(raw), options)
                    summary.emails = len(outbox)
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict(), indent=2, default=str))
        else:
            for line in summary.lines():
                self.stdout.write(line)

    def _run(self, make_transport, options):
        enabled = options["progress"]
        if enabled is None:
            enabled = self.stderr.isatty()
        progress = Progress(options["conversations"], _Plain(self.stderr), enabled=enabled)
        progress.draw()
        try:
            return run_simulation(
                make_transport,
                conversations=options["conversations"],
                seed=options["seed"],
                concurrency=options["concurrency"],
                on_done=progress.advance,
            )
        finally:
            progress.finish()


class _Plain:
    """The command's stderr without its error colour and automatic newline."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, style_func=lambda x: x, ending="")

    def flush(self) -> None:
        self.wrapper.flush()
