"""Brings the platform up in its production shape on loopback, for one benchmark, and down again.

gunicorn (sync workers) serves HTTP, daphne the WebSockets, Celery workers (threads pool) and beat
run the tasks, on their own PostgreSQL database (`bench`, dropped and created each run) and their
own Redis database (/9, flushed), with the fake Twilio from the test suite as the carrier, in a
process of its own. Every process is measured (CPU seconds, resident memory) with psutil, and the
machine's load average is printed with every figure, because the machine may be shared.

    with Platform(web_workers=4) as platform:
        platform.start_workers()
        ...
        platform.report("after")
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform as pyplatform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from aioload import Request as Request
from aioload import Result as Result
from aioload import closed_loop as closed_loop
from aioload import open_loop as open_loop
from aioload import summarize as summarize
from figures import load as load
from figures import ms as ms
from figures import percentile as percentile
from figures import wall as wall

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
FERNET_KEY = "Uvuxn6MjzysptEGrdrxDdPMmyUT-KrNCDj6H1Me0OYw="  # a bench-only key
LONG_CODE, TOLL_FREE, SHORT_CODE = "+12025550100", "+18885550100", "+12025550199"
CONTACT = "+14155552671"
BODY_160 = (
    "Your order #{n:08d} has shipped and is on its way. Track it at example.com/t/{n:08d} "
    "- reply STOP to opt out, HELP for help. Thank you for shopping with us!!"
)


def contact(n: int) -> str:
    """A different recipient per message, as real traffic has: messages to one contact share a
    conversation row, which each send updates (see docs/performance.md)."""
    return f"+1415555{n % 10_000:04d}"


def body160(n: int) -> str:
    text = BODY_160.format(n=n)
    return (text + "x" * 160)[:160]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the fake carrier, in a process of its own -------------------------------------------------


def _carrier_main(conn, latency: float, callbacks: bool) -> None:
    from messaging_platform.testing.fake_twilio import FakeTwilio

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fake = FakeTwilio(latency=latency, callbacks=callbacks, callback_workers=64).start()
    conn.send(fake.base_url)
    while True:
        try:
            command, args = conn.recv()
        except EOFError:
            break
        if command == "stop":
            break
        try:
            if command == "set":
                setattr(fake, args[0], args[1])
                result = None
            elif command == "receipts":  # (body, from, received_at) of every accepted message
                result = [(m.body, m.from_number, m.received_at) for m in fake.messages]
            elif command == "count":
                result = len(fake.messages)
            elif command == "stats":
                result = {
                    "rate_limited": dict(fake.rate_limited),
                    "sends_by_sender": dict(fake.sends_by_sender),
                    "callbacks": len(fake.callbacks_sent),
                    "callback_failures": sum(
                        1 for c in fake.callbacks_sent if c.status_code is None or c.status_code >= 300
                    ),
                    "duplicates": len(fake.duplicate_sends()),
                }
            else:
                result = getattr(fake, command)(*args)
                if command == "add_account":
                    result = (result.sid, result.auth_token)
            conn.send(("ok", result))
        except Exception as exc:  # report, keep serving
            conn.send(("error", repr(exc)))
    fake.stop()


class Carrier:
    """The fake Twilio in a child process; method calls go over a pipe."""

    def __init__(self, latency: float = 0.0, callbacks: bool = True):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_carrier_main, args=(child, latency, callbacks), daemon=True, name="fake-twilio"
        )
        self.process.start()
        self.base_url: str = self.conn.recv()

    def call(self, command: str, *args: Any) -> Any:
        self.conn.send((command, args))
        status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"fake carrier: {result}")
        return result

    def set(self, name: str, value: Any) -> None:
        self.call("set", name, value)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(("stop", ()))
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


# --- the platform's processes ------------------------------------------------------------------


def gunicorn_argv(module: str, workers: int, port: int) -> list[str]:
    """The web tier's command, the same for the platform and the floor."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        module,
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
    ]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    cpu_mark: dict[int, float] = field(default_factory=dict)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


def _pg_backends() -> list[psutil.Process]:
    """The PostgreSQL backends serving the benchmark's database (of its processes' connections)."""
    result = subprocess.run(
        ["psql", f"{PG}/postgres", "-Atc", f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB_NAME}'"],
        capture_output=True,
        text=True,
    )
    found = []
    for line in result.stdout.split():
        with contextlib.suppress(psutil.Error, ValueError):
            found.append(psutil.Process(int(line)))
    return found


def _rss_mb(p: psutil.Process) -> float:
    try:
        return p.memory_info().rss / 2**20
    except psutil.NoSuchProcess:
        return 0.0


class Platform:
    """The platform on loopback. `settings` are extra environment variables for every process."""

    def __init__(
        self,
        *,
        web_workers: int = 4,
        worker_processes: int = 2,
        worker_concurrency: int = 32,
        carrier_latency: float = 0.0,
        callbacks: bool = True,
        ws: bool | int = False,
        settings: dict[str, str] | None = None,
    ):
        self.web_workers = web_workers
        self.worker_processes = worker_processes
        self.worker_concurrency = worker_concurrency
        # `ws` is the number of daphne processes (True: one), each on a port of its own.
        self.ws = int(ws)
        self.web_port, self.ws_port = free_port(), free_port()
        self.ws_ports = [self.ws_port] + [free_port() for _ in range(self.ws - 1)]
        self.ws_urls = [f"ws://127.0.0.1:{port}" for port in self.ws_ports]
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.ws_url = f"ws://127.0.0.1:{self.ws_port}"
        self.procs: list[Proc] = []
        self.workers: list[Proc] = []
        self.log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench-logs"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Rate limits raised for the run (the documented default is 100/min per key).
        self.settings = {
            "API_KEY_RATE_LIMIT": "100000000/m",
            "UI_RATE_LIMIT": "100000000/m",
            **(settings or {}),
        }
        self.carrier = Carrier(latency=carrier_latency, callbacks=callbacks)
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "bench-secret-key",
            "FIELD_ENCRYPTION_KEY": FERNET_KEY,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "PUBLIC_BASE_URL": self.url,
            "TWILIO_API_BASE_URL": self.carrier.base_url,
            "LOG_LEVEL": "WARNING",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SETTINGS_MODULE": "messaging_platform.settings",
            "CACHE_KEY_PREFIX": "bench",
            "CHANNEL_LAYER_PREFIX": "bench-channels",
            **self.settings,
        }
        self.workspace_id = ""
        self.api_key = ""
        self.account: tuple[str, str] = ("", "")

    # lifecycle

    def __enter__(self) -> Platform:
        try:
            self._create_database()
            os.environ.update(self.env)  # this process reads and seeds the same database
            import django

            django.setup()
            self._seed()
            self._start_web()
            for index, port in enumerate(self.ws_ports if self.ws else []):
                self._start(
                    "ws" if index == 0 else f"ws{index + 1}",
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "messaging_platform.asgi:application",
                    ],
                    {"DATABASE_POOL": "true"},
                )
                self._wait_port(port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in [*self.workers, *self.procs]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for proc in [*self.workers, *self.procs]:
            try:
                proc.popen.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
        self.carrier.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        subprocess.run(
            ["psql", PG + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"],
            capture_output=True,
        )

    def _create_database(self) -> None:
        for sql in (f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}"):
            subprocess.run(["psql", PG + "/postgres", "-qc", sql], check=True, capture_output=True)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
        )

    def _seed(self) -> None:
        from accounts.models import User
        from numbers.models import NumberType, PhoneNumber, ProviderAccount
        from workspaces.models import Membership
        from workspaces.services import api_key_create, workspace_create

        sid, token = self.carrier.call("add_account", None, None)
        for number in (LONG_CODE, TOLL_FREE, SHORT_CODE):
            self.carrier.call("add_number", sid, number)
        self.account = (sid, token)
        user = User.objects.create_user(email="bench@example.com", password="bench-password-1", name="Bench")
        workspace = workspace_create(user=user, name="Bench")
        ProviderAccount.objects.create(
            workspace=workspace, provider="twilio", account_sid=sid, auth_token=token
        )
        # Throughput benchmarks send from a short code with pacing raised out of the way; the
        # pacing benchmark sets its own rates.
        PhoneNumber.objects.create(
            workspace=workspace,
            phone_number=SHORT_CODE,
            is_default=True,
            number_type=NumberType.SHORT_CODE,
            send_rate=100000,
        )
        PhoneNumber.objects.create(workspace=workspace, phone_number=LONG_CODE)
        PhoneNumber.objects.create(
            workspace=workspace, phone_number=TOLL_FREE, number_type=NumberType.TOLL_FREE
        )
        self.workspace_id = workspace.id
        membership = Membership.objects.get(user=user, workspace=workspace)
        self.api_key = api_key_create(actor=membership, name="bench").key

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        popen = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen)
        self.procs.append(proc)
        return proc

    def _start_web(self) -> None:
        self._start(
            "web",
            gunicorn_argv("messaging_platform.wsgi", self.web_workers, self.web_port),
            {"DATABASE_CONN_MAX_AGE": "600"},
        )
        self._wait_port(self.web_port)
        # The port opens before the workers have imported Django: wait for real answers.
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        self._start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "messaging_platform",
                "beat",
                "--loglevel=WARNING",
                "-s",
                str(self.log_dir / "beat-schedule"),
            ],
        )

    def start_workers(self, processes: int | None = None, concurrency: int | None = None) -> None:
        """The Procfile's `worker` line, `processes` times (the default pool: threads)."""
        for i in range(processes or self.worker_processes):
            proc = self._start(
                f"worker{i + 1}",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "messaging_platform",
                    "worker",
                    "--loglevel=WARNING",
                    f"--concurrency={concurrency or self.worker_concurrency}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"bench{i}@%h",
                ],
                {"DATABASE_POOL": "true"},
            )  # as the Procfile runs them
            self.procs.remove(proc)
            self.workers.append(proc)
        time.sleep(3)  # connected to the broker, threads started

    def _wait_port(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {port}; see {self.log_dir}")

    # measuring

    def web_cpu(self) -> float:
        """CPU seconds used so far by the gunicorn master and its workers."""
        return sum(_cpu(p) for proc in self.procs if proc.name == "web" for p in proc.tree())

    def all_procs(self) -> list[Proc]:
        return [*self.procs, *self.workers]

    def mark(self) -> None:
        """Start a CPU measurement window for every process (and the carrier and this one)."""
        self._mark_at = time.monotonic()
        self._marks = {p.pid: _cpu(p) for p in self._measured()}

    def _measured(self) -> list[psutil.Process]:
        found = [p for proc in self.all_procs() for p in proc.tree()]
        return [*found, psutil.Process(self.carrier.process.pid), psutil.Process(), *_pg_backends()]

    def report(self, title: str, *, per: int = 0, unit: str = "message") -> str:
        """CPU used since mark() (as % of one core, and per `unit` when `per` of them were done)
        and resident memory of each process."""
        elapsed = max(1e-9, time.monotonic() - getattr(self, "_mark_at", time.monotonic()))
        marks = getattr(self, "_marks", {})
        lines = [f"  processes ({title}; {load()}):"]
        groups: list[tuple[str, list[psutil.Process]]] = [
            (proc.name, proc.tree()) for proc in self.all_procs()
        ]
        groups += [
            ("fake-carrier", [psutil.Process(self.carrier.process.pid)]),
            ("load-generator", [psutil.Process()]),
        ]
        total_cpu = 0.0
        # PostgreSQL's backends of this database (those alive now), in one line: the database's
        # own CPU per message.
        backends = _pg_backends()
        pg_cpu = sum(_cpu(p) - marks.get(p.pid, 0.0) for p in backends)  # new ones: all of theirs
        for name, tree in groups:
            for i, p in enumerate(tree):
                role = name if len(tree) == 1 else (f"{name} master" if i == 0 else f"{name}.{i}")
                if name.startswith("worker") and len(tree) == 1:
                    role = name
                # A process started after mark() is measured from its start.
                since = elapsed if p.pid in marks else max(1e-9, time.time() - p.create_time())
                cpu = _cpu(p) - marks.get(p.pid, 0.0)
                each = f"  {1000 * cpu / per:7.3f} ms cpu/{unit}" if per else ""
                lines.append(
                    f"    {role:<18} pid {p.pid:<7} cpu {100 * cpu / since:5.0f}%  "
                    f"rss {_rss_mb(p):6.1f} MB{each}"
                )
                total_cpu += cpu
        each = f"  {1000 * pg_cpu / per:7.3f} ms cpu/{unit}" if per else ""
        lines.append(
            f"    {'postgres backends':<18} {len(backends):<11} cpu {100 * pg_cpu / elapsed:5.0f}%"
            f"{'':17}{each}"
        )
        total_cpu += pg_cpu
        if per:
            lines.append(
                f"    {'all of the above':<18} {1000 * total_cpu / per:.3f} ms cpu/{unit} "
                f"({per} {unit}s; Redis not counted)"
            )
        pg = [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster")]
        redis_ps = [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("redis")]
        for label, ps in (("postgresql (all)", pg), ("redis-server", redis_ps)):
            lines.append(
                f"    {label:<18} {len(ps)} processes, rss {sum(_rss_mb(p) for p in ps):6.1f} MB "
                "(shared with other users of the machine)"
            )
        text = "\n".join(lines)
        print(text, flush=True)
        return text

    def banner(self, name: str) -> None:
        import django

        print(
            f"== {name}: {time.strftime('%Y-%m-%d %H:%M:%S')}, {load()}, "
            f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, Python {pyplatform.python_version()}, "
            f"Django {django.get_version()}",
            flush=True,
        )
        print(
            f"   web: gunicorn, {self.web_workers} sync workers; workers: {self.worker_processes} "
            f"celery processes x {self.worker_concurrency} threads; settings raised for the run: "
            f"{self.settings}",
            flush=True,
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def queue_messages(self, count: int, tag: str, **fields: Any) -> int:
        """Queue `count` messages through the batch endpoint (1,000 a request); answers how many
        were accepted."""
        import requests

        accepted = 0
        for start in range(0, count, 1000):
            messages = [
                {"to": contact(n), "body": (f"{tag}{n:06d} " + "x" * 160)[:160], **fields}
                for n in range(start, min(count, start + 1000))
            ]
            response = requests.post(
                f"{self.url}/api/messages/batch",
                json={"messages": messages},
                headers=self.headers(),
                timeout=120,
            )
            response.raise_for_status()
            accepted += sum(1 for item in response.json()["data"] if item["status"] == 201)
        return accepted

    def wait_for(self, condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(interval)
        return False


# --- the floor: a bare Django + DRF insert under the same gunicorn (bench/floor) ----------------


class Floor:
    """The floor app on its own database (`<BENCH_DB>_floor`), served like the platform's web tier.

    Every accept and inbound figure is printed beside the floor's, measured by the same load
    generator in the same run, and as a ratio to it: the ratio means the same on a busy machine."""

    def __init__(self, *, web_workers: int = 4):
        self.web_workers = web_workers
        self.port = free_port()
        self.db = f"{DB_NAME}_floor"
        self.log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench-logs"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "floor.settings",
            "FLOOR_DATABASE_URL": f"{PG}/{self.db}",
            "PYTHONPATH": str(BASE_DIR / "bench"),
        }
        self.proc: Proc | None = None

    def __enter__(self) -> Floor:
        try:
            for sql in (f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)", f"CREATE DATABASE {self.db}"):
                subprocess.run(["psql", PG + "/postgres", "-qc", sql], check=True, capture_output=True)
            subprocess.run(
                [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v", "0"],
                cwd=BASE_DIR / "bench",
                env=self.env,
                check=True,
            )
            log = open(self.log_dir / "floor.log", "ab")  # noqa: SIM115 - handed to the child
            popen = subprocess.Popen(
                gunicorn_argv("floor.wsgi", self.web_workers, self.port),
                cwd=BASE_DIR / "bench",
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.proc = Proc("floor", popen)
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                answer = requests.post(
                    f"http://127.0.0.1:{self.port}/notes", timeout=5, json={"to": CONTACT, "body": "ready?"}
                )
                if answer.status_code == 201:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the floor does not answer; see {self.log_dir}/floor.log")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.popen.pid, signal.SIGTERM)
            try:
                self.proc.popen.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.popen.pid, signal.SIGKILL)
        subprocess.run(
            ["psql", PG + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"],
            capture_output=True,
        )

    def web_cpu(self) -> float:
        return sum(_cpu(p) for p in self.proc.tree()) if self.proc else 0.0

    def requests(self, count: int) -> list[bytes]:
        """`count` floor requests, each with a 160-character body, as the accept benchmark sends."""
        import json

        from loadgen import http_post

        return [
            http_post(self.port, "/notes", json.dumps({"to": contact(n), "body": body160(n)}).encode())
            for n in range(count)
        ]


@dataclass
class Measured:
    """One run of the lean load generator against one server, with that server's web CPU."""

    label: str
    ok: int
    requests: int
    rate: float  # ok answers per second
    p50: float
    p99: float
    web_cpu: float  # seconds of the server's gunicorn processes during the run
    generator_cpu: float
    statuses: dict[int, int]
    units: int = 0  # messages, where one request carries many (batches)

    @property
    def cpu_per_ok(self) -> float:
        return self.web_cpu / self.ok if self.ok else float("nan")


def measure(label: str, server: Any, run_it: Callable[[], Any], ok: int = 201) -> Measured:
    """Runs `run_it` (a loadgen run) against `server` (a Platform or a Floor) and prints it."""
    before = server.web_cpu()
    run = run_it()
    cpu = server.web_cpu() - before
    good = [(due, done) for due, done, status in run.results if status == ok]
    latencies = [done - due for due, done in good]
    statuses: dict[int, int] = {}
    for _, _, status in run.results:
        statuses[status] = statuses.get(status, 0) + 1
    figures = Measured(
        label,
        len(good),
        len(run.results),
        len(good) / run.elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
        cpu,
        run.cpu,
        statuses,
    )
    lag = f", generator lag {ms(run.lag)}" if run.lag else ""
    print(
        f"  {label}: {figures.ok}/{figures.requests} ok in {run.elapsed:.1f} s = {figures.rate:.0f}/s; "
        f"p50 {ms(figures.p50)}, p99 {ms(figures.p99)}; statuses {statuses}"
        f"{' errors ' + str(run.errors) if run.errors else ''}; web CPU {figures.cpu_per_ok * 1000:.2f} ms "
        f"per answer; generator CPU {run.cpu / max(1, figures.requests) * 1e6:.0f} µs per request{lag}; "
        f"{load()}",
        flush=True,
    )
    measure.last_run = run
    return figures


def beside_floor(what: str, platform: Measured, floor: Measured) -> None:
    """The platform's figure beside the floor's, and as a ratio to it."""
    rate = platform.rate
    print(
        f"  => {what}: platform {rate:.0f}/s, floor {floor.rate:.0f}/s, ratio {rate / floor.rate:.2f}x; "
        f"p99 {ms(platform.p99)} vs {ms(floor.p99)}; web CPU per request "
        f"{platform.cpu_per_ok * 1000:.2f} ms vs {floor.cpu_per_ok * 1000:.2f} ms "
        f"({platform.cpu_per_ok / floor.cpu_per_ok:.2f}x)",
        flush=True,
    )
