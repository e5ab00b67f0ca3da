"""At most HTTP_CONCURRENCY requests of a process inside Django at once (config/admission.py);
a request that only waits (the API's ``wait``) gives its place back meanwhile."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from config.admission import Admission, released


class Recorder:
    """An HTTP application whose requests run sync code on a thread, as Django's do; it
    records how many are inside at once."""

    def __init__(self, hold: float = 0.05, wait: threading.Event | None = None):
        self.inside = 0
        self.most = 0
        self.done: list[str] = []
        self.hold = hold
        self.wait = wait
        self.lock = threading.Lock()

    def work(self, path: str) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            if path == "/wait" and self.wait is not None:
                with self.lock:
                    self.inside -= 1  # not working while it waits
                with released():
                    self.wait.wait(5)
                with self.lock:
                    self.inside += 1
            else:
                threading.Event().wait(self.hold)
        finally:
            with self.lock:
                self.inside -= 1
                self.done.append(path)

    async def __call__(self, scope, receive, send):
        await sync_to_async(self.work, thread_sensitive=False)(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def request(app, path: str = "/", kind: str = "http") -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app({"type": kind, "path": path}, receive, send)
    return sent


@pytest.mark.asyncio
async def test_a_burst_is_let_in_a_few_at_a_time_and_every_request_is_answered():
    inner = Recorder()
    app = Admission(inner, limit=3)

    answers = await asyncio.gather(*(request(app, f"/{i}") for i in range(12)))

    assert inner.most == 3
    assert len(inner.done) == 12
    assert all(sent[0]["status"] == 200 for sent in answers)


@pytest.mark.asyncio
async def test_without_a_limit_the_burst_goes_in_at_once():
    inner = Recorder(hold=0.2)
    app = Admission(inner, limit=0)

    await asyncio.gather(*(request(app, f"/{i}") for i in range(6)))

    assert inner.most == 6


@pytest.mark.asyncio
async def test_a_request_that_only_waits_lets_a_working_one_in_and_then_finishes():
    go = threading.Event()
    inner = Recorder(wait=go)
    app = Admission(inner, limit=1)

    waiting = asyncio.ensure_future(request(app, "/wait"))
    await asyncio.sleep(0.1)
    await asyncio.wait_for(request(app, "/work"), 5)  # admitted while /wait waits

    assert inner.done == ["/work"]
    go.set()
    assert (await asyncio.wait_for(waiting, 5))[0]["status"] == 200
    assert inner.done == ["/work", "/wait"]
    assert inner.most == 1


@pytest.mark.asyncio
async def test_a_waiting_request_whose_client_left_gives_its_place_back():
    go = threading.Event()
    inner = Recorder(wait=go)
    app = Admission(inner, limit=1)

    waiting = asyncio.ensure_future(request(app, "/wait"))
    await asyncio.sleep(0.1)
    waiting.cancel()  # the client went away; the thread still waits
    await asyncio.sleep(0.05)
    go.set()
    await asyncio.sleep(0.2)  # the thread takes a place back, sees the request over, returns it

    await asyncio.wait_for(request(app, "/after"), 5)  # not locked out
    assert "/after" in inner.done


@pytest.mark.asyncio
async def test_websockets_are_not_admitted_here():
    seen: list[str] = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    app = Admission(inner, limit=1)
    await asyncio.wait_for(
        asyncio.gather(*(request(app, "/ws", kind="websocket") for _ in range(3))), 5
    )

    assert seen == ["websocket"] * 3


def test_outside_an_admitted_request_released_does_nothing():
    with released():
        pass  # a worker, a test's client, WSGI: no place to give back


def test_a_section_lets_a_few_threads_in_at_once():
    from config.admission import section

    inside, most, lock = [0], [0], threading.Lock()

    def work():
        with section("test-section", 3):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            threading.Event().wait(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert most[0] == 3
