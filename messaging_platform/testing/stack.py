"""A whole private platform on loopback for fault tests and the soak: its own PostgreSQL cluster and
Redis (so they can be stopped and restarted without touching the shared servers), gunicorn,
a Celery worker with beat, and the fake Twilio. Everything is started here and stopped here.

Usage (before django.setup(): the env decides which database this process talks to):

    with PrivatePostgres() as pg, PrivateRedis() as redis, FakeTwilio(callbacks=True) as fake:
        stack = Stack(pg, redis, fake).prepare()   # env, migrate, django.setup()
        seeded = stack.seed()                       # workspace, number, API key on the fake
        stack.start_web(); stack.start_worker()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .fake_twilio import FakeTwilio

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
CONTACT = "+14155552671"
OUR_NUMBER = "+12025550100"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port} after {timeout}s")


def private_services_available() -> bool:
    return bool(PG_BIN and shutil.which("redis-server") and shutil.which("runuser"))


class PrivateRedis:
    """redis-server on a free loopback port, with no persistence: a restart comes back empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 10)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # no shutdown save: everything queued is gone
            self.process.wait(10)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PrivatePostgres:
    """A throwaway cluster (initdb in a temp dir, trust auth on loopback) run as the postgres user."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mp-pg-"))
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/platform"

    def _as_postgres(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
        )

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            shutil.chown(self.dir, "postgres")
            self._as_postgres(
                str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
            )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            "start",
        )
        return self

    def create_database(self) -> None:
        self._as_postgres(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "platform"
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def __enter__(self) -> PrivatePostgres:
        self.start()
        self.create_database()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Seeded:
    workspace_id: str
    api_key: str
    account_sid: str
    auth_token: str


class Stack:
    def __init__(
        self,
        pg: PrivatePostgres,
        redis: PrivateRedis,
        fake: FakeTwilio,
        *,
        web_workers: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.pg, self.redis, self.fake = pg, redis, fake
        self.web_port = free_port()
        self.web_workers = web_workers
        self.log_dir = Path(tempfile.mkdtemp(prefix="mp-stack-logs-"))
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": "stack-secret-key-" + "x" * 40,
            "FIELD_ENCRYPTION_KEY": "Uvuxn6MjzysptEGrdrxDdPMmyUT-KrNCDj6H1Me0OYw=",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.web_port}",
            "TWILIO_API_BASE_URL": fake.base_url,
            "TWILIO_HTTP_TIMEOUT": "5",
            "API_KEY_RATE_LIMIT": "1000000/m",
            "UI_RATE_LIMIT": "1000000/m",
            "LOG_LEVEL": "WARNING",
            # Fast recovery, so that a short run shows it: the sweep every second, stale after 4 s.
            "SWEEP_INTERVAL_SECONDS": "1",
            "QUEUED_STALE_SECONDS": "4",
            "SEND_LEASE_SECONDS": "8",
            "SEND_RETRY_BASE_SECONDS": "0.5",
            "SEND_RETRY_MAX_SECONDS": "3",
            "SEND_MAX_ATTEMPTS": "60",
            "CELERY_VISIBILITY_TIMEOUT": "10",
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def prepare(self) -> Stack:
        """Point this process at the private services, migrate, and set Django up."""
        for name in (
            "DATABASE_URL",
            "REDIS_URL",
            "TWILIO_API_BASE_URL",
            "PUBLIC_BASE_URL",
            "SECRET_KEY",
            "FIELD_ENCRYPTION_KEY",
            "DEBUG",
            "CELERY_TASK_ALWAYS_EAGER",
        ):
            os.environ[name] = self.env[name]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )
        import django

        django.setup()
        return self

    def seed(self) -> Seeded:
        from accounts.models import User
        from numbers.models import PhoneNumber, ProviderAccount
        from workspaces.models import Membership
        from workspaces.services import api_key_create, workspace_create

        account = self.fake.add_account(numbers=[OUR_NUMBER])
        user = User.objects.create_user(
            email=f"soak{time.time_ns()}@example.com", password="soak-pass-1234", name="Soak"
        )
        workspace = workspace_create(user=user, name="Soak")
        ProviderAccount.objects.create(
            workspace=workspace, provider="twilio", account_sid=account.sid, auth_token=account.auth_token
        )
        # Faults and soak measure loss, not pacing: the sender's rate is raised out of the way.
        PhoneNumber.objects.create(
            workspace=workspace, phone_number=OUR_NUMBER, is_default=True, mms_enabled=True, send_rate=10_000
        )
        key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="bench")
        return Seeded(workspace.id, key.key, account.sid, account.auth_token)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.processes[name] = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "messaging_platform.wsgi",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                str(self.web_workers),
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
            ],
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError("gunicorn did not come up:\n" + self.log("web"))

    def start_worker(self, concurrency: int = 4) -> None:
        self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "messaging_platform",
                "worker",
                "-B",
                "-s",
                str(self.log_dir / "beat-schedule"),
                "--loglevel=WARNING",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )

    def pids(self, name: str) -> list[int]:
        """The process and its children (gunicorn and celery fork their workers)."""
        import psutil

        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return []
        parent = psutil.Process(process.pid)
        return [parent.pid, *(child.pid for child in parent.children(recursive=True))]

    def kill(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        for name, process in list(self.processes.items()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)
            self.processes.pop(name, None)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""
