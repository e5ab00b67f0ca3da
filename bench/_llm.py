"""A local OpenAI-compatible chat-completions endpoint that answers after a delay, standing in
for a real LLM in the benches (bench/turn.py, bench/load.py); it counts the calls in flight."""

from __future__ import annotations

import atexit
import json
import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "sk-bench-llm-0123456789"
ANSWER = "Your invoice is under Account > Billing."


class SlowLLM:
    """An OpenAI-compatible chat-completions endpoint answering after ``delay`` seconds, in a
    process of its own (as a real LLM is another service: in the bench's process it would
    share one GIL with the bench's customers, and answer later than ``delay`` when they are
    busy); counts the requests in flight. ``close()`` stops it (also at exit)."""

    def __init__(self, delay: float):
        self.delay = delay
        context = multiprocessing.get_context("spawn")
        # in flight, most in flight; and the port the server bound
        self._counts = context.Array("l", 2)
        self._port = context.Value("l", 0)
        ready = context.Event()
        self._process = context.Process(
            target=_serve, args=(delay, self._counts, self._port, ready), daemon=True
        )
        self._process.start()
        if not ready.wait(30):
            raise RuntimeError("the bench's LLM endpoint did not start")
        atexit.register(self.close)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port.value}"

    @property
    def max_in_flight(self) -> int:
        return self._counts[1]

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


def _serve(delay: float, counts, port, ready) -> None:
    """The endpoint's process: a threading HTTP server (each request sleeps ``delay``)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with counts.get_lock():
                counts[0] += 1
                counts[1] = max(counts[1], counts[0])
            try:
                time.sleep(delay)
            finally:
                with counts.get_lock():
                    counts[0] -= 1
            body = json.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": "bench-model",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": ANSWER},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            ).encode()
            answer_json(self, body)

        def log_message(self, format, *args):
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port.value = httpd.server_address[1]
    ready.set()
    httpd.serve_forever()


def answer_json(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """A 200 with a JSON body, from a stand-in endpoint's handler."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def point_agents_at(tenant, url: str) -> int:
    """Every agent of ``tenant`` answers through the endpoint at ``url`` (the OpenAI-compatible
    runtime, with the bench's key sealed in the secret store); returns how many."""
    from agents.models import Agent
    from core.secret_store import seal

    return Agent.objects.filter(tenant=tenant).update(
        runtime="openai",
        runtime_config={"baseUrl": url + "/v1", "model": "bench-model"},
        runtime_secret=seal(API_KEY),
    )
