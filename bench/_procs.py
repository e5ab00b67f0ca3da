"""The product's processes as production runs them (uvicorn ASGI workers, a Celery worker and
beat), started as subprocesses on a given database and Redis: shared by the fault tests
(tests/faults/conftest.py) and the load test (bench/load.py).

Each process runs in a session of its own, so that stopping it stops the processes it forked
(uvicorn's and Celery's workers); its output goes to a log file in the given folder.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60.0  # seconds: a bound on waiting for a process or a row, never a speed assertion

# The secret store's key of the benches' own deployments (they hold no real secret).
STORE_KEYS = base64.urlsafe_b64encode(b"bench-store-key-not-a-secret-001").decode()

# Variables of the caller's environment that must not leak into the product's processes.
_NOT_INHERITED = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], object], *, what: str, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def product_env(
    *, database_url: str, redis_url: str, secret_key: str, secrets_keys: str, **extra: str
) -> dict[str, str]:
    """The production mode's environment on loopback: DEBUG off, real services, plain HTTP
    (as behind a proxy that ends TLS). ``secrets_keys``: the secret store's SECRETS_KEYS."""
    env = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
    env.update(
        DEBUG="0",
        SECRET_KEY=secret_key,
        SECRETS_KEYS=secrets_keys,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def default_queue(env: dict[str, str]) -> str:
    return env.get("CELERY_QUEUE") or "celery"


def turns_queue(env: dict[str, str]) -> str:
    """The agents' runs' queue, as config/settings.py and the Procfile name it."""
    if env.get("CELERY_TURNS_QUEUE"):
        return env["CELERY_TURNS_QUEUE"]
    return f"{env['CELERY_QUEUE']}-turns" if env.get("CELERY_QUEUE") else "turns"


# --- CPU of processes (/proc) -------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_ticks(pid: int) -> tuple[int, int] | None:
    """(utime + stime, process group) of ``pid`` in clock ticks, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(rest[11]) + int(rest[12]), int(rest[2])


def server_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process of the server's process group (supervisor, workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (ticks := _proc_ticks(int(entry))) and ticks[1] == pgid:
            total += ticks[0]
    return total / CLOCK_TICKS


def postgres_ticks(conn, database: str) -> dict[int, int]:
    """CPU ticks of each PostgreSQL backend connected to the bench's database (the server's
    pool; the sampling connection itself left out)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [database],
    ).fetchall()
    return {pid: ticks[0] for (pid,) in rows if (ticks := _proc_ticks(pid))}


def postgres_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    """The CPU seconds the backends spent between two ``postgres_ticks`` readings."""
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / CLOCK_TICKS


class RedisServer:
    """A redis-server of the caller's own on a free port; ``stop()`` and ``start()`` again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def binary() -> str | None:
        return shutil.which("redis-server")

    def start(self) -> None:
        binary = self.binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, what=f"redis-server on {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class Processes:
    """The product's processes of one test or one bench run; ``stop_all()`` ends them all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = Path(tmp)
        self.running: list[subprocess.Popen] = []

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.running)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        self.running.append(process)
        return process

    def web(self, env: dict[str, str], *, workers: int = 1, timeout: float = WAIT) -> str:
        """uvicorn (as in production: ``workers`` ASGI processes on one port); returns its base
        URL once it answers /health/live."""
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--timeout-keep-alive",  # as the Procfile's web line (KEEP_ALIVE_SECONDS)
            "75",
        ]
        if workers > 1:
            command += ["--workers", str(workers), "--lifespan", "off"]
        return self._serve("web", command, env, port, timeout)

    def runserver(self, env: dict[str, str], *, timeout: float = WAIT) -> str:
        """The embedded default as ``./run up`` serves it (``manage.py runserver``, one
        process); returns its base URL once it answers /health/live."""
        port = free_port()
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        return self._serve("runserver", command, env, port, timeout)

    def _serve(
        self, name: str, command: list[str], env: dict[str, str], port: int, timeout: float
    ) -> str:
        process = self._spawn(name, command, env)
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the {name} process died: {self.log(process)}")
            try:
                return requests.get(f"{base}/health/live", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, what=f"the {name} process", timeout=timeout)
        return base

    def worker(
        self,
        env: dict[str, str],
        *,
        concurrency: int = 1,
        timeout: float = WAIT,
        pool: str = "prefork",
        queues: str | None = None,
    ) -> subprocess.Popen:
        """A Celery worker; returns once it is ready. By default one prefork worker serves
        both the default queue and the agents' runs (``turns``); production runs the turns
        on a threads-pool worker of their own (``turns_worker``)."""
        if queues is None:
            queues = f"{default_queue(env)},{turns_queue(env)}"
        process = self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--queues",
                queues,
                "--hostname",
                f"{pool}-{len(self.running)}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            env,
        )

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the worker died: {self.log(process)}")
            return b"ready." in Path(process.log_path).read_bytes()

        wait_until(ready, what="the worker", timeout=timeout)
        return process

    def turns_worker(
        self, env: dict[str, str], *, concurrency: int = 50, timeout: float = WAIT
    ) -> subprocess.Popen:
        """The agents' runs as the Procfile's ``turns`` line serves them: Celery's threads
        pool on the ``turns`` queue alone, with a small database pool."""
        return self.worker(
            {"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "4", **env},
            concurrency=concurrency,
            timeout=timeout,
            pool="threads",
            queues=turns_queue(env),
        )

    def beat(self, env: dict[str, str]) -> subprocess.Popen:
        """Celery beat with the database scheduler (the periodic sweeps), as the Procfile runs
        it; exactly one per deployment."""
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile=",
            ],
            {**env, "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "2"},
        )

    def manage(self, env: dict[str, str], code: str) -> str:
        """Run ``code`` in a fresh Django process with ``env`` (e.g. the outbox sweep, as the
        beat-scheduled task runs it); returns what it printed."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    @staticmethod
    def log(process: subprocess.Popen) -> str:
        return Path(process.log_path).read_text(errors="replace")[-4000:]

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(WAIT)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)
        self.running.clear()
