"""Fault injection on a private platform (own PostgreSQL, Redis, gunicorn, Celery worker, fake
Twilio; loopback only; every loop bounded). Prints one JSON line of figures per scenario.

    .venv/bin/python bench/faults.py redis-restart postgres-stop carrier-down carrier-slow \
        carrier-flap [--messages 200] [--flap-seconds 60]

Counts: accepted (201), refused (any other answer), delivered, failed (with reasons),
at_carrier_receipt_lost (sent and held by the carrier, whose delivery receipt arrived while our
database was down: the carrier does not retry it), lost (accepted but neither at the carrier,
delivered nor failed when the wait ends: target 0), and duplicates (the same message sent to the
carrier more than once: target 0).
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
    PrivatePostgres,
    PrivateRedis,
    Stack,
)


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
            response = session.post(self.url, json={"to": CONTACT, "body": body},
                                    headers=self.headers, timeout=15)
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
        return (Message.objects.filter(pk__in=ids, status__in=final).count()
                + Message.objects.filter(pk__in=ids, status=Status.SENT,
                                         provider_sid__in=at_carrier).count())

    while time.monotonic() < deadline:
        if settled() == len(ids):
            break
        time.sleep(0.5)
    # One snapshot for every count: callbacks still arrive while we count, and a message moving
    # from `sent` to `delivered` between two queries would be counted in neither.
    at_carrier = {m.sid for m in fake.messages}
    snapshot = list(Message.objects.filter(pk__in=ids).values_list("status", "provider_sid",
                                                                    "error_message"))
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


def redis_restart(stack: Stack, redis: PrivateRedis, fake: FakeTwilio, sender: Sender,
                  args) -> dict:
    fake.latency = 0.05  # a realistic carrier, so work is still queued when Redis goes
    sender.burst(args.messages, during=lambda: redis.restart(down_seconds=1.0))
    return outcome(sender, fake, wait=120)


def postgres_stop(stack: Stack, pg: PrivatePostgres, fake: FakeTwilio, sender: Sender,
                  args) -> dict:
    """Requests before, during and after a 5 s stop: answers, their format and their latency."""
    phases: dict[str, Counter] = {"before": Counter(), "during": Counter(), "after": Counter()}
    non_json: list[str] = []
    slowest = 0.0
    session = requests.Session()

    def probe(phase: str) -> None:
        nonlocal slowest
        started = time.monotonic()
        try:
            response = session.get(stack.url + "/api/workspace", headers=sender.headers,
                                   timeout=15)
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
    figures.update({"probes": {k: dict(v) for k, v in phases.items()},
                    "non_json_answers": non_json[:5], "slowest_answer_s": round(slowest, 2),
                    "first_200_after_restart_s": recovered_after})
    return figures


def webhooks_postgres_stop(stack: Stack, pg: PrivatePostgres, fake: FakeTwilio, sender: Sender,
                           args) -> dict:
    """Carrier webhooks while PostgreSQL is stopped: signed inbound messages and status callbacks
    posted during a 5 s stop must be answered as Twilio expects, then stored and applied."""
    from django.db import connection

    from messaging.models import Direction, Message, Status
    from messaging_platform.testing.stack import OUR_NUMBER
    from messaging_platform.testing.twilio_params import signed_post, status_params

    account = next(iter(fake.accounts.values()))
    workspace_id = args.workspace_id
    inbound_url = f"{stack.url}/webhooks/twilio/{workspace_id}/inbound"
    fake.callbacks = False  # the status callbacks are ours to post, during the stop
    sender.burst(args.messages // 4 or 1)
    connection.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Message.objects.filter(
            pk__in=sender.accepted, status=Status.SENT).count() < len(sender.accepted):
        time.sleep(0.2)
    sent = list(Message.objects.filter(pk__in=sender.accepted, status=Status.SENT)
                .values_list("pk", "provider_sid"))
    # One inbound message before the stop: the web processes cache what verification needs.
    answers: Counter = Counter()
    answers["before " + str(fake.post_inbound(inbound_url, account_sid=account.sid,
                                              from_number=CONTACT, to_number=OUR_NUMBER,
                                              body="Before the stop").status_code)] += 1
    connection.close()
    pg.stop()
    stopped = time.monotonic()
    inbound_bodies = [f"During the stop {n}" for n in range(args.messages // 2 or 1)]
    for n, body in enumerate(inbound_bodies):
        response = fake.post_inbound(inbound_url, account_sid=account.sid, from_number=CONTACT,
                                     to_number=OUR_NUMBER, body=body)
        answers[f"inbound {response.status_code}"] += 1
        if n < len(sent):
            message_id, sid = sent[n]
            url = f"{stack.url}/webhooks/twilio/{workspace_id}/status?message_id={message_id}"
            response = signed_post(url, status_params(message_sid=sid, status="delivered",
                                                      account_sid=account.sid),
                                   account.auth_token)
            answers[f"status {response.status_code}"] += 1
    for message_id, sid in sent[len(inbound_bodies):]:
        url = f"{stack.url}/webhooks/twilio/{workspace_id}/status?message_id={message_id}"
        response = signed_post(url, status_params(message_sid=sid, status="delivered",
                                                  account_sid=account.sid), account.auth_token)
        answers[f"status {response.status_code}"] += 1
    time.sleep(max(0.0, 5 - (time.monotonic() - stopped)))
    pg.start()
    restarted = time.monotonic()
    stored = delivered = 0
    while time.monotonic() - restarted < 90:
        try:
            connection.close()
            stored = Message.objects.filter(direction=Direction.INBOUND,
                                            body__in=inbound_bodies).count()
            delivered = Message.objects.filter(pk__in=[pk for pk, _ in sent],
                                               status=Status.DELIVERED).count()
        except Exception:  # PostgreSQL still starting up
            pass
        if stored == len(inbound_bodies) and delivered == len(sent):
            break
        time.sleep(0.5)
    fake.callbacks = True
    return {"answers": dict(answers), "inbound_posted": len(inbound_bodies),
            "inbound_stored": stored, "status_posted": len(sent), "status_applied": delivered,
            "recovered_after_s": round(time.monotonic() - restarted, 1)}


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
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS))
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--flap-seconds", type=float, default=60)
    args = parser.parse_args()
    with PrivatePostgres() as pg, PrivateRedis() as redis, FakeTwilio(callbacks=True) as fake:
        stack = Stack(pg, redis, fake).prepare()
        seeded = stack.seed()
        try:
            for name in args.scenarios:
                fake.reset()
                stack.start_web()
                stack.start_worker()
                sender = Sender(stack, seeded.api_key)
                args.workspace_id = seeded.workspace_id
                service_name, run = SCENARIOS[name]
                service = {"redis": redis, "pg": pg}.get(service_name)
                started = time.monotonic()
                figures = run(stack, service, fake, sender, args)
                figures = {"scenario": name, "seconds": round(time.monotonic() - started, 1),
                           **figures}
                print(json.dumps(figures), flush=True)
                stack.stop()
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
