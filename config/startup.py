"""What a web process loads before it serves, so that its first requests do not wait for it.

Django imports the URL configuration (every view and API module, DRF, the schema's views) on
the first HTTP request, and the detectors build their sentiment lexicon on the first customer
message: about 80 ms of CPU in a process (measured), and every request that arrives meanwhile
waits behind the import. Right after a start (a deploy, a restart, the turn bench's burst of
200 messages at once) that stood in front of the first second's requests. Loaded here instead,
before ``freeze_startup_objects`` keeps the garbage collector off what the process loaded.
"""

from __future__ import annotations

from django.urls import get_resolver

from agents.detectors import detect


def load_before_serving() -> None:
    get_resolver().url_patterns  # noqa: B018 (imports the URL configuration and its views)
    detect("Hello, where can I find my invoice?")
