"""Real platform processes for end-to-end tests and benchmarks: a Celery worker (with its beat) and
a daphne server, pointed at the same database and Redis as the test, started and killed for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def database_url() -> str:
    """A URL for the database this process uses now (the test database during tests)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("Real worker processes need PostgreSQL")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _platform_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a platform process sharing this test's database, Redis and secrets."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
        "TWILIO_API_BASE_URL": getattr(settings, "TWILIO_API_BASE_URL", ""),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _ChildProcess:
    """A platform process in its own process group (so signals reach its children), logging to a
    file."""

    process: subprocess.Popen | None = None
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the process and its children: nothing gets to clean up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class DaphneProcess(_ChildProcess):
    """`daphne` serving the ASGI application (HTTP and WebSockets) on a free loopback port.

    Its URL is known before it starts, so PUBLIC_BASE_URL can point at it.
    """

    def __init__(
        self, env: dict[str, str] | None = None, *, port: int | None = None, log_path: Path | None = None
    ):
        self.env = env or {}
        self.port = port or free_port()
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"daphne-{os.getpid()}-{id(self)}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30) -> DaphneProcess:
        env = _platform_env(
            {"ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false", **self.env}
        )
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "messaging_platform.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._ready, timeout=timeout, what=f"daphne to listen; log:\n{self.log()}")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"daphne exited with {self.process.returncode}:\n{self.log()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


class WorkerProcess(_ChildProcess):
    """`celery worker -B` in its own process group, so a kill takes its children too."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        concurrency: int = 8,
        pool: str = "threads",
        log_path: Path | None = None,
        log_level: str = "WARNING",
    ):
        self.env = env
        self.log_level = log_level
        self.concurrency = concurrency
        self.pool = pool
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"worker-{os.getpid()}-{id(self)}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        env = _platform_env(self.env)
        schedule = self.log_path.with_suffix(".beat")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "messaging_platform",
                "worker",
                "-B",
                "-s",
                str(schedule),
                f"--loglevel={self.log_level}",
                f"--concurrency={self.concurrency}",
                f"--pool={self.pool}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self


class BindProcess(_ChildProcess):
    """`manage.py smpp_binds`: the process holding the SMPP binds."""

    def __init__(self, env: dict[str, str] | None = None, *, log_path: Path | None = None):
        self.env = env or {}
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"binds-{os.getpid()}-{id(self)}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> BindProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "smpp_binds"],
            cwd=BASE_DIR,
            env=_platform_env(self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self


def wait_until(condition, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}")
