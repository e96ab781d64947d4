"""A real daphne server (HTTP and WebSockets) for browser tests, in its own process.

It runs the embedded shape: Celery tasks eager and the simulator inside the server process, the
in-memory channel layer and cache. The database is PostgreSQL's test database when the tests use
PostgreSQL, else a SQLite file of its own (migrated here), since an in-memory test database cannot
be shared with another process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from .processes import BASE_DIR, database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, *, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="live-server-"))
        self.log_path = self.workdir / "daphne.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    def _env(self) -> dict[str, str]:
        if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
            db_url = database_url()
        else:
            db_url = f"sqlite:///{self.workdir / 'db.sqlite3'}"
        return {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "DATABASE_URL": db_url,
            "REDIS_URL": "",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "PUBLIC_BASE_URL": self.url,
            "LOG_LEVEL": "WARNING",
            # Plain-HTTP test server: the cookies must not be Secure-only.
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            **self.extra_env,
        }

    def start(self, timeout: float = 30.0) -> LiveServer:
        env = self._env()
        if env["DATABASE_URL"].startswith("sqlite"):
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=BASE_DIR,
                env=env,
                check=True,
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"daphne did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
