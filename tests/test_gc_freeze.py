"""A web process loads at start what its first requests would (config/startup.py) and keeps the
garbage collector off what it loaded (config/gc_freeze.py): a full collection then no longer
walks Django and every module with the GIL held."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

from celery.signals import worker_process_init, worker_ready

from config.gc_freeze import freeze_startup_objects

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json
import config.asgi
gc.collect()
print(json.dumps({"frozen": gc.get_freeze_count(), "walked": len(gc.get_objects())}))
"""


def _probe(tmp_path, code: str) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "SQLITE_PATH": str(tmp_path / "probe.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_asgi_application_freezes_what_it_loaded(tmp_path):
    probe = _probe(tmp_path, PROBE)

    # Django, the apps, their modules: out of the collector's way; a full collection walks
    # only what came after
    assert probe["frozen"] > 50_000
    assert probe["walked"] < probe["frozen"] / 10


LOADED = """
import json, sys
import config.{app}
from agents.detectors.sentiment import _tuned_analyzer
print(json.dumps({{"urls": "config.urls" in sys.modules,
                   "api": "conversations.api" in sys.modules,
                   "lexicon": _tuned_analyzer.cache_info().currsize}}))
"""


def test_a_web_process_loads_its_views_and_the_lexicon_before_its_first_request(tmp_path):
    # the first requests after a start do not wait behind the URL configuration's import or
    # the sentiment lexicon's build
    for app in ("asgi", "wsgi"):
        assert _probe(tmp_path, LOADED.format(app=app)) == {"urls": True, "api": True, "lexicon": 1}


def _receivers(signal) -> list:
    return [r() if isinstance(r, weakref.ReferenceType) else r for _, r in signal.receivers]


def test_celery_workers_freeze_once_they_are_ready():
    import config.celery  # noqa: F401  (connects the receivers)

    assert freeze_startup_objects in _receivers(worker_ready)
    assert freeze_startup_objects in _receivers(worker_process_init)
