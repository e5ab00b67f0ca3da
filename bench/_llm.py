"""A local OpenAI-compatible chat-completions endpoint that answers after a delay, standing in
for a real LLM in the benches (bench/turn.py, bench/load.py); it counts the calls in flight."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "sk-bench-llm-0123456789"
ANSWER = "Your invoice is under Account > Billing."


class SlowLLM:
    """An OpenAI-compatible chat-completions endpoint answering after ``delay`` seconds; counts
    the requests in flight."""

    def __init__(self, delay: float):
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with bench.lock:
                    bench.calls += 1
                    bench.in_flight += 1
                    bench.max_in_flight = max(bench.max_in_flight, bench.in_flight)
                try:
                    time.sleep(bench.delay)
                finally:
                    with bench.lock:
                        bench.in_flight -= 1
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
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        ThreadingHTTPServer.request_queue_size = 1024
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


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
