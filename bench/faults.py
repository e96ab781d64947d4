"""Fault injection on a private platform (own PostgreSQL, Redis, gunicorn, Celery worker, fake
Twilio; loopback only; every loop bounded). Prints one JSON line of figures per scenario.

    .venv/bin/python bench/faults.py worker-kill redis-restart postgres-stop \
        webhooks-postgres-stop carrier-down carrier-slow carrier-flap poison-events bad-input \
        [--messages 200] [--flap-seconds 60]

Counts: accepted (201), refused (any other answer), delivered, failed (with reasons),
at_carrier_receipt_lost (sent and held by the carrier, whose delivery receipt arrived while our
database was down: the carrier does not retry it), lost (accepted but neither at the carrier,
delivered nor failed when the wait ends: target 0), and duplicates (the same message sent to the
carrier more than once: target 0). webhooks-postgres-stop, poison-events and bad-input print
their own figures (see each scenario).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messaging_platform.testing.fake_twilio import FakeTwilio  # noqa: E402
from messaging_platform.testing.stack import (  # noqa: E402
    CONTACT,
    OUR_NUMBER,
    PrivatePostgres,
    PrivateRedis,
    Stack,
)

OTHER_NUMBER = "+12025550111"  # the second workspace's number (poison-events)


class Sender:
    def __init__(self, stack: Stack, api_key: str) -> None:
        self.url = stack.url + "/api/messages"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.accepted: list[str] = []
        self.refused: Counter = Counter()
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.session = threading.local()
        self.counter = itertools.count()  # unique bodies: the fake counts duplicates by content

    def send(self, n: int) -> None:
        session = getattr(self.session, "s", None) or requests.Session()
        self.session.s = session
        started = time.monotonic()
        try:
            body = f"Fault test {next(self.counter)}"
            response = session.post(
                self.url, json={"to": CONTACT, "body": body}, headers=self.headers, timeout=15
            )
            outcome = response.status_code
            error = response.json().get("error") if response.status_code >= 400 else None
        except (requests.RequestException, ValueError) as exc:
            outcome, error = type(exc).__name__, None
        with self.lock:
            self.latencies.append(time.monotonic() - started)
            if outcome == 201:
                self.accepted.append(response.json()["id"])
            else:
                self.refused[f"{outcome} {error or ''}".strip()] += 1

    def burst(self, count: int, *, threads: int = 8, during=None) -> None:
        """Send `count` messages; call `during()` once a third of them are out."""
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(self.send, n) for n in range(count)]
            if during:
                while sum(f.done() for f in futures) < count // 3:
                    time.sleep(0.02)
                during()
            for future in futures:
                future.result()


def outcome(sender: Sender, fake: FakeTwilio, *, wait: float) -> dict:
    from django.db import connection

    from messaging.models import Message, Status

    connection.close()  # ours may have died with a stopped PostgreSQL
    ids = sender.accepted
    deadline = time.monotonic() + wait
    final = {Status.DELIVERED, Status.FAILED, Status.UNDELIVERED}

    def settled() -> int:
        # Final, or at the carrier with its delivery receipt lost: a carrier's status callback
        # refused while our database was down is not retried by the carrier.
        at_carrier = {m.sid for m in fake.messages}
        return (
            Message.objects.filter(pk__in=ids, status__in=final).count()
            + Message.objects.filter(pk__in=ids, status=Status.SENT, provider_sid__in=at_carrier).count()
        )

    while time.monotonic() < deadline:
        if settled() == len(ids):
            break
        time.sleep(0.5)
    # Settled, but receipts may still be on their way: wait while `sent` ones keep turning final
    # (up to 30 s), so that "receipt lost" counts only receipts that did not come.
    grace = time.monotonic() + 30
    still_sent, idle = Message.objects.filter(pk__in=ids, status=Status.SENT).count(), 0
    while still_sent and idle < 3 and time.monotonic() < grace:
        time.sleep(2)
        now_sent = Message.objects.filter(pk__in=ids, status=Status.SENT).count()
        idle = idle + 1 if now_sent == still_sent else 0
        still_sent = now_sent
    # One snapshot for every count: callbacks still arrive while we count, and a message moving
    # from `sent` to `delivered` between two queries would be counted in neither.
    at_carrier = {m.sid for m in fake.messages}
    snapshot = list(Message.objects.filter(pk__in=ids).values_list("status", "provider_sid", "error_message"))
    receipt_lost = [s for s in snapshot if s[0] == Status.SENT and s[1] in at_carrier]
    failed = [s for s in snapshot if s[0] in (Status.FAILED, Status.UNDELIVERED)]
    still_open = [s for s in snapshot if s[0] not in final and s not in receipt_lost]
    lat = sorted(sender.latencies)
    return {
        "accepted": len(ids),
        "refused": dict(sender.refused),
        "delivered": sum(1 for s in snapshot if s[0] == Status.DELIVERED),
        "failed": len(failed),
        "failed_reasons": dict(Counter(s[2] for s in failed)),
        "at_carrier_receipt_lost": len(receipt_lost),
        "lost": len(still_open),
        "still_open_by_status": dict(Counter(s[0] for s in still_open)),
        "duplicates_sent_to_carrier": sum(n - 1 for n in fake.duplicate_sends().values()),
        "api_latency_p99_s": round(lat[int(len(lat) * 0.99) - 1], 3) if lat else None,
        "api_latency_max_s": round(lat[-1], 3) if lat else None,
    }


def redis_restart(stack: Stack, redis: PrivateRedis, fake: FakeTwilio, sender: Sender, args) -> dict:
    fake.latency = 0.05  # a realistic carrier, so work is still queued when Redis goes
    sender.burst(args.messages, during=lambda: redis.restart(down_seconds=1.0))
    return outcome(sender, fake, wait=120)


def postgres_stop(stack: Stack, pg: PrivatePostgres, fake: FakeTwilio, sender: Sender, args) -> dict:
    """Requests before, during and after a 5 s stop: answers, their format and their latency."""
    phases: dict[str, Counter] = {"before": Counter(), "during": Counter(), "after": Counter()}
    non_json: list[str] = []
    slowest = 0.0
    session = requests.Session()

    def probe(phase: str) -> None:
        nonlocal slowest
        started = time.monotonic()
        try:
            response = session.get(stack.url + "/api/workspace", headers=sender.headers, timeout=15)
            error = response.json().get("error", "") if response.status_code >= 400 else ""
            code = f"{response.status_code} {error}"
        except ValueError:
            code = f"{response.status_code} non-JSON"
            non_json.append(response.text[:200])
        except requests.RequestException as exc:
            code = type(exc).__name__
        slowest = max(slowest, time.monotonic() - started)
        phases[phase][code.strip()] += 1

    for _ in range(20):
        probe("before")
    sender.burst(30)
    pg.stop()
    stop_at = time.monotonic()
    while time.monotonic() - stop_at < 5:
        probe("during")
        sender.send(-1)
        time.sleep(0.05)
    pg.start()
    restarted = time.monotonic()
    recovered_after = None
    while time.monotonic() - restarted < 30:
        probe("after")
        if phases["after"].get("200") and recovered_after is None:
            recovered_after = round(time.monotonic() - restarted, 2)
        if phases["after"].get("200", 0) >= 20:
            break
        time.sleep(0.05)
    sender.burst(30)
    figures = outcome(sender, fake, wait=90)
    figures.update(
        {
            "probes": {k: dict(v) for k, v in phases.items()},
            "non_json_answers": non_json[:5],
            "slowest_answer_s": round(slowest, 2),
            "first_200_after_restart_s": recovered_after,
        }
    )
    return figures


def webhooks_postgres_stop(stack: Stack, pg: PrivatePostgres, fake: FakeTwilio, sender: Sender, args) -> dict:
    """Carrier webhooks while PostgreSQL is stopped: signed inbound messages and status callbacks
    posted during a 5 s stop must be answered as Twilio expects, then stored and applied."""
    import redis as redis_client
    from django.db import connection

    from messaging.models import Direction, Message, Status
    from messaging_platform.testing.twilio_params import inbound_params, signed_post, status_params

    account = next(iter(fake.accounts.values()))
    workspace_id = args.workspace_id
    inbound_url = f"{stack.url}/webhooks/twilio/{workspace_id}/inbound"
    fake.callbacks = False  # the status callbacks are ours to post, during the stop
    sender.burst(args.messages // 4 or 1)
    connection.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Message.objects.filter(
        pk__in=sender.accepted, status=Status.SENT
    ).count() < len(sender.accepted):
        time.sleep(0.2)
    sent = list(
        Message.objects.filter(pk__in=sender.accepted, status=Status.SENT).values_list("pk", "provider_sid")
    )
    # One inbound message before the stop: the web processes cache what verification needs.
    answers: Counter = Counter()
    answers[
        "before "
        + str(
            fake.post_inbound(
                inbound_url,
                account_sid=account.sid,
                from_number=CONTACT,
                to_number=OUR_NUMBER,
                body="Before the stop",
            ).status_code
        )
    ] += 1
    connection.close()
    pg.stop()
    stopped = time.monotonic()
    inbound_bodies = [f"During the stop {n}" for n in range(args.messages // 2 or 1)]
    for n, body in enumerate(inbound_bodies):
        response = fake.post_inbound(
            inbound_url, account_sid=account.sid, from_number=CONTACT, to_number=OUR_NUMBER, body=body
        )
        answers[f"inbound {response.status_code}"] += 1
        if n < len(sent):
            message_id, sid = sent[n]
            url = f"{stack.url}/webhooks/twilio/{workspace_id}/status?message_id={message_id}"
            response = signed_post(
                url,
                status_params(message_sid=sid, status="delivered", account_sid=account.sid),
                account.auth_token,
            )
            answers[f"status {response.status_code}"] += 1
    for message_id, sid in sent[len(inbound_bodies) :]:
        url = f"{stack.url}/webhooks/twilio/{workspace_id}/status?message_id={message_id}"
        response = signed_post(
            url,
            status_params(message_sid=sid, status="delivered", account_sid=account.sid),
            account.auth_token,
        )
        answers[f"status {response.status_code}"] += 1
    # Redis unreachable too (paused, so that what it keeps survives): nowhere to keep the
    # event, so the answer is a JSON 503 with Retry-After; the carrier's retry (the same
    # MessageSid, once PostgreSQL is back) is taken.
    redis_client.Redis.from_url(args.redis.url).client_pause(6000, all=True)
    refused_params = inbound_params(
        from_number=CONTACT, to_number=OUR_NUMBER, body="Retried later", account_sid=account.sid
    )
    both_down = signed_post(inbound_url, refused_params, account.auth_token, timeout=30)
    answers[
        f"both down {both_down.status_code} {both_down.headers.get('Content-Type', '')} "
        f"Retry-After={both_down.headers.get('Retry-After')}"
    ] += 1
    redis_client.Redis.from_url(args.redis.url).client_unpause()
    time.sleep(max(0.0, 5 - (time.monotonic() - stopped)))
    pg.start()
    restarted = time.monotonic()
    while time.monotonic() - restarted < 20:  # the carrier retries until it is taken
        retried = signed_post(inbound_url, refused_params, account.auth_token)
        if retried.status_code != 503:
            break
        time.sleep(1)
    answers[f"retried {retried.status_code}"] += 1
    stored = delivered = retried_stored = 0
    while time.monotonic() - restarted < 90:
        try:
            connection.close()
            stored = Message.objects.filter(direction=Direction.INBOUND, body__in=inbound_bodies).count()
            retried_stored = Message.objects.filter(direction=Direction.INBOUND, body="Retried later").count()
            delivered = Message.objects.filter(pk__in=[pk for pk, _ in sent], status=Status.DELIVERED).count()
        except Exception:  # PostgreSQL still starting up
            pass
        if stored == len(inbound_bodies) and delivered == len(sent) and retried_stored:
            break
        time.sleep(0.5)
    fake.callbacks = True
    return {
        "answers": dict(answers),
        "inbound_posted": len(inbound_bodies),
        "inbound_stored": stored,
        "refused_then_retried_stored": retried_stored,
        "status_posted": len(sent),
        "status_applied": delivered,
        "recovered_after_s": round(time.monotonic() - restarted, 1),
    }


def worker_kill(stack: Stack, _service, fake: FakeTwilio, sender: Sender, args) -> dict:
    """The worker (and its beat) SIGKILLed once a third of a burst is accepted, while it sends to
    a carrier that takes 0.3 s per message; a new worker starts 2 s later. What the dead one had
    claimed is looked up at the carrier after the lease, before anything is sent again."""
    fake.latency = 0.3

    def kill() -> None:
        stack.kill("worker")
        time.sleep(2)
        stack.start_worker()

    sender.burst(args.messages, during=kill)
    fake.latency = 0.05
    return outcome(sender, fake, wait=150)


def _second_workspace(fake: FakeTwilio):
    """Another workspace with its own carrier account and number, for the poison scenario."""
    from accounts.models import User
    from numbers.models import PhoneNumber, ProviderAccount
    from workspaces.services import workspace_create

    account = fake.add_account(numbers=[OTHER_NUMBER])
    user = User.objects.create_user(
        email=f"other{time.time_ns()}@example.com", password="other-pass-1234", name="Other"
    )
    workspace = workspace_create(user=user, name="Other")
    ProviderAccount.objects.create(
        workspace=workspace, provider="twilio", account_sid=account.sid, auth_token=account.auth_token
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=OTHER_NUMBER, is_default=True)
    return workspace, account


def poison_events(stack: Stack, redis: PrivateRedis, fake: FakeTwilio, sender: Sender, args) -> dict:
    """Events that can never apply must not starve another workspace's recovery. Workspace A gets
    520 signed status callbacks, each naming one of its messages with a carrier sid that message
    does not hold (refused by rule), and 500 stored events whose parameters make applying them
    raise (retried with backoff, then dead-lettered). Meanwhile the worker is stopped, workspace B
    receives 20 inbound messages, and the broker's queue is flushed (their tasks are lost): the
    sweep alone must find B's events, past A's older ones."""
    import redis as redis_client
    from django.db import connection
    from django.utils import timezone

    from messaging.models import CarrierEvent, Direction, Message, Status
    from messaging_platform.testing.twilio_params import new_sid, signed_post, status_params

    account = next(iter(fake.accounts.values()))
    began = timezone.now()
    fake.callbacks = False  # A's messages stay `sent`, holding their sids
    sender.burst(20)
    connection.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Message.objects.filter(
        pk__in=sender.accepted, status=Status.SENT
    ).count() < len(sender.accepted):
        time.sleep(0.2)
    sent = list(
        Message.objects.filter(pk__in=sender.accepted, status=Status.SENT).values_list("pk", flat=True)
    )
    workspace_a = args.workspace_id
    answers: Counter = Counter()
    http = requests.Session()
    for n in range(520):
        url = f"{stack.url}/webhooks/twilio/{workspace_a}/status?message_id={sent[n % len(sent)]}"
        response = signed_post(
            url,
            status_params(message_sid=new_sid("SM"), status="delivered", account_sid=account.sid),
            account.auth_token,
            session=http,
        )
        answers[f"status {response.status_code}"] += 1
    CarrierEvent.objects.bulk_create(
        CarrierEvent(
            workspace_id=workspace_a,
            provider="twilio",
            kind="status",
            dedupe_key=f"poison-{n}",
            params=["not", "an", "object"],
        )
        for n in range(500)
    )
    workspace_b, account_b = _second_workspace(fake)
    stack.kill("worker")
    bodies = [f"Inbound to B {n}" for n in range(20)]
    for body in bodies:
        response = fake.post_inbound(
            f"{stack.url}/webhooks/twilio/{workspace_b.pk}/inbound",
            account_sid=account_b.sid,
            from_number=CONTACT,
            to_number=OTHER_NUMBER,
            body=body,
        )
        answers[f"inbound {response.status_code}"] += 1
    redis_client.Redis.from_url(redis.url).flushdb()  # the broker loses every queued task
    restarted = time.monotonic()
    stack.start_worker()
    stored_after = None
    # The sweep hands over events older than a minute (a lost wake-up), so B waits about that.
    while time.monotonic() - restarted < 180:
        stored = Message.objects.filter(
            workspace_id=workspace_b.pk, direction=Direction.INBOUND, body__in=bodies
        ).count()
        if stored == len(bodies) and stored_after is None:
            stored_after = round(time.monotonic() - restarted, 1)
        poison = CarrierEvent.objects.filter(workspace_id=workspace_a, dedupe_key__startswith="poison-")
        if stored_after is not None and poison.filter(dead_at__isnull=True).count() == 0:
            break
        time.sleep(0.5)
    fake.callbacks = True
    poison = CarrierEvent.objects.filter(workspace_id=workspace_a, dedupe_key__startswith="poison-")
    refused = (
        CarrierEvent.objects.filter(workspace_id=workspace_a, kind="status", received_at__gte=began)
        .exclude(dedupe_key__startswith="poison-")
        .exclude(error="")
    )
    return {
        "answers": dict(answers),
        "b_inbound_posted": len(bodies),
        "b_inbound_stored": stored,
        "b_stored_after_s": stored_after,
        "a_mismatched_callbacks_refused": refused.count(),
        "a_messages_still_sent": Message.objects.filter(pk__in=sent, status=Status.SENT).count(),
        "a_poison_events": poison.count(),
        "a_poison_failing_runs": sum(poison.values_list("attempts", flat=True)),
        "a_poison_dead_lettered": poison.filter(dead_at__isnull=False).count(),
        "watched_s": round(time.monotonic() - restarted, 1),
    }


def bad_input(stack: Stack, _service, fake: FakeTwilio, sender: Sender, args) -> dict:
    """NUL characters, deep nesting, non-string fields and oversize requests, through gunicorn:
    every answer a 4xx in the JSON error format (none a 5xx), and the carrier's payloads kept."""
    from django.db import connection

    from messaging.models import Direction, Message, Status
    from messaging_platform.testing.twilio_params import signed_post, status_params

    account = next(iter(fake.accounts.values()))
    key = sender.headers
    base, ws = stack.url, args.workspace_id
    nested = "[" * 10000 + "]" * 10000
    to = f'"to": "{CONTACT}"'
    probes = {
        "login nested 10,000 deep": ("POST", "/api/auth/login", {}, nested),
        "send nested 10,000 deep": ("POST", "/api/messages", key, nested),
        "search with NUL": ("GET", "/api/messages?search=a%00b", key, None),
        "conversation with NUL": ("GET", "/api/messages?conversation=conv_%00x", key, None),
        "message id with NUL": ("GET", "/api/messages/msg_%00x", key, None),
        "body 1e999": ("POST", "/api/messages", key, "{" + to + ', "body": 1e999}'),
        "body a number": ("POST", "/api/messages", key, "{" + to + ', "body": 42}'),
        "to a number": ("POST", "/api/messages", key, '{"to": 14155552671, "body": "hi"}'),
        "request line of 10,000": ("GET", "/api/messages?x=" + "a" * 10000, key, None),
        "header of 20,000": ("GET", "/api/messages", {**key, "X-Big": "b" * 20000}, None),
        "webhook body of 3 MB": (
            "POST",
            f"/webhooks/twilio/{ws}/inbound",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "Body=" + "x" * 3_000_000,
        ),
        "schema with an API key": ("GET", "/api/schema/", key, None),
    }
    answers = {}
    for name, (method, path, headers, body) in probes.items():
        headers = {
            **headers,
            **({"Content-Type": "application/json"} if body and path.startswith("/api/") else {}),
        }
        try:
            response = requests.request(method, base + path, headers=headers, data=body, timeout=30)
            kind = response.headers.get("Content-Type", "").split(";")[0]
            error = ""
            if kind == "application/json" and response.status_code >= 400:
                error = response.json().get("error", "")
            answers[name] = f"{response.status_code} {kind} {error}".strip()
        except requests.RequestException as exc:
            answers[name] = type(exc).__name__
    # A signed inbound message and a status callback carrying NUL: answered as Twilio expects,
    # and kept (the NUL removed from what is stored). The message stays `sent` for it.
    fake.callbacks = False
    sender.burst(1)
    connection.close()
    deadline = time.monotonic() + 30
    message = None
    while time.monotonic() < deadline:
        message = Message.objects.filter(pk__in=sender.accepted, provider_sid__isnull=False).first()
        if message is not None:
            break
        time.sleep(0.2)
    inbound = fake.post_inbound(
        f"{base}/webhooks/twilio/{ws}/inbound",
        account_sid=account.sid,
        from_number=CONTACT,
        to_number=OUR_NUMBER,
        body="NUL\x00inside",
    )
    answers["signed inbound Body with NUL"] = str(inbound.status_code)
    if message is not None:
        status = signed_post(
            f"{base}/webhooks/twilio/{ws}/status?message_id={message.pk}",
            status_params(
                message_sid=message.provider_sid,
                status="undelivered",
                error_code="300\x0005",
                account_sid=account.sid,
            ),
            account.auth_token,
        )
        answers["signed status ErrorCode with NUL"] = str(status.status_code)
    deadline = time.monotonic() + 30
    stored = applied = False
    while time.monotonic() < deadline and not (stored and applied):
        stored = Message.objects.filter(direction=Direction.INBOUND, body="NULinside").exists()
        applied = (
            message is not None and Message.objects.filter(pk=message.pk, status=Status.UNDELIVERED).exists()
        )
        time.sleep(0.3)
    fake.callbacks = True
    web_log = stack.log("web")
    return {
        "answers": answers,
        "server_errors": sum(1 for a in answers.values() if a[:1] == "5"),
        "non_json_refusals": sorted(
            n for n, a in answers.items() if a[:1] == "4" and "application/json" not in a
        ),
        "nul_inbound_stored": stored,
        "nul_status_applied": applied,
        "tracebacks_in_web_log": web_log.count("Traceback"),
    }


def carrier(mode: str):
    def run(stack: Stack, _service, fake: FakeTwilio, sender: Sender, args) -> dict:
        if mode == "down":
            fake.down = True
            sender.burst(args.messages)
            time.sleep(20)
            fake.down = False
        elif mode == "slow":
            fake.slow, fake.slow_seconds = True, 8.0  # past the 5 s TWILIO_HTTP_TIMEOUT
            sender.burst(args.messages // 4)
            time.sleep(20)
            fake.slow = False
        else:  # flapping: down and up every 5 s, while messages keep coming
            stop_at = time.monotonic() + args.flap_seconds
            n = 0
            while time.monotonic() < stop_at:
                fake.down = not fake.down
                sender.burst(10)
                n += 1
                time.sleep(max(0.0, 5 - 0.5))
            fake.down = False
        return outcome(sender, fake, wait=180)

    return run


SCENARIOS = {
    "redis-restart": ("redis", redis_restart),
    "postgres-stop": ("pg", postgres_stop),
    "webhooks-postgres-stop": ("pg", webhooks_postgres_stop),
    "carrier-down": (None, carrier("down")),
    "carrier-slow": (None, carrier("slow")),
    "carrier-flap": (None, carrier("flap")),
    "worker-kill": (None, worker_kill),
    "poison-events": ("redis", poison_events),
    "bad-input": (None, bad_input),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS))
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--flap-seconds", type=float, default=60)
    args = parser.parse_args()
    with PrivatePostgres() as pg, PrivateRedis() as redis, FakeTwilio(callbacks=True) as fake:
        # Poison events back off from 1 s to 4 s, so that they are dead-lettered within the run.
        stack = Stack(
            pg,
            redis,
            fake,
            extra_env={"CARRIER_EVENT_RETRY_BASE_SECONDS": "1", "CARRIER_EVENT_RETRY_MAX_SECONDS": "4"},
        ).prepare()
        seeded = stack.seed()
        try:
            for name in args.scenarios:
                fake.reset()
                stack.start_web()
                stack.start_worker()
                sender = Sender(stack, seeded.api_key)
                args.workspace_id, args.redis = seeded.workspace_id, redis
                service_name, run = SCENARIOS[name]
                service = {"redis": redis, "pg": pg}.get(service_name)
                started = time.monotonic()
                figures = run(stack, service, fake, sender, args)
                figures = {"scenario": name, "seconds": round(time.monotonic() - started, 1), **figures}
                print(json.dumps(figures), flush=True)
                stack.stop()
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
