"""Benchmark 5: status storm. Three status callbacks per message (sending, sent, then delivered, or
undelivered for one in ten), shuffled, with 10% of them sent twice, posted as fast as the platform
takes them (closed loop). Every message must end in its right final state.

    .venv/bin/python bench/storm.py [--messages 2000] [--concurrency 16] [--stored]

`--stored`: the workers' side alone. The same callbacks are stored as the webhook stores them
(verified payloads, duplicates dropped by their dedupe key) while no worker runs; then the workers
start, and the rate is how fast they apply them (as bench/drain.py measures sending alone).
"""

import argparse
import asyncio
import random
import time

import aiohttp
from harness import CONTACT, SHORT_CODE, Platform, load, ms, percentile

WARM_UP_MESSAGES = 40


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--stored",
        action="store_true",
        help="store the callbacks first, then start the workers (their side alone)",
    )
    args = parser.parse_args()
    from messaging_platform.testing.twilio_params import (  # after harness set the path
        new_sid,
        signature_headers,
        status_params,
    )

    # Stored first, nothing but the wake-up below starts a runner (not beat's tick).
    with Platform(settings={"CARRIER_EVENT_TICK_SECONDS": "3600"} if args.stored else None) as platform:
        platform.banner("status storm" + (", stored first" if args.stored else ""))
        if not args.stored:
            platform.start_workers()
        from django.db.models import Count

        from messaging.models import Direction, Message, Status
        from workspaces.models import Workspace

        workspace = Workspace.objects.get(pk=platform.workspace_id)
        messages = [
            Message(
                workspace=workspace,
                direction=Direction.OUTBOUND,
                status=Status.SENDING,
                to_number=CONTACT,
                from_number=SHORT_CODE,
                body=f"storm {i}",
                provider_sid=new_sid("SM"),
            )
            for i in range(args.messages)
        ]
        # Every web worker's first callbacks import the carrier's library and resolve the URLs:
        # a few messages of their own, their callbacks posted and applied before the clock starts.
        warm = [
            Message(
                workspace=workspace,
                direction=Direction.OUTBOUND,
                status=Status.SENDING,
                to_number=CONTACT,
                from_number=SHORT_CODE,
                body=f"warm {i}",
                provider_sid=new_sid("SM"),
            )
            for i in range(0 if args.stored else WARM_UP_MESSAGES)
        ]
        Message.objects.bulk_create(messages + warm)
        account_sid, token = platform.account
        rng = random.Random(7)
        expected, callbacks, warm_up = {}, [], []
        for message in warm:
            url = f"{platform.url}/webhooks/twilio/{platform.workspace_id}/status?message_id={message.id}"
            for status in ("sending", "sent", "delivered"):
                params = status_params(
                    message_sid=message.provider_sid,
                    status=status,
                    from_number=SHORT_CODE,
                    to_number=CONTACT,
                    account_sid=account_sid,
                )
                warm_up.append((url, params, signature_headers(url, params, token)))
        for i, message in enumerate(messages):
            final = "undelivered" if i % 10 == 0 else "delivered"
            expected[message.id] = final
            url = f"{platform.url}/webhooks/twilio/{platform.workspace_id}/status?message_id={message.id}"
            for status in ("sending", "sent", final):
                params = status_params(
                    message_sid=message.provider_sid,
                    status=status,
                    from_number=SHORT_CODE,
                    to_number=CONTACT,
                    account_sid=account_sid,
                    error_code="30003" if status == "undelivered" else None,
                )
                callbacks.append((url, params, signature_headers(url, params, token)))
        callbacks += rng.sample(callbacks, len(callbacks) // 10)
        rng.shuffle(callbacks)
        print(
            f"  {len(callbacks)} callbacks for {len(messages)} messages "
            f"({len(callbacks) - 3 * len(messages)} duplicates); {load()}",
            flush=True,
        )

        async def storm(callbacks: list = callbacks) -> list[tuple[int, float]]:
            queue = iter(callbacks)
            answers: list[tuple[int, float]] = []
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as s:

                async def client() -> None:
                    for url, params, headers in queue:
                        sent = time.monotonic()
                        async with s.post(url, data=params, headers=headers) as response:
                            await response.read()
                        answers.append((response.status, time.monotonic() - sent))

                await asyncio.gather(*(client() for _ in range(args.concurrency)))
            return answers

        if args.stored:
            answers = store(platform, callbacks)
            platform.start_workers()
            platform.mark()
            started = time.monotonic()
            from messaging.enqueue import enqueue_carrier_events_apply

            enqueue_carrier_events_apply()  # as the last webhook's store would have
        else:
            asyncio.run(storm(warm_up))
            platform.wait_for(
                lambda: Message.objects.filter(pk__in=[m.pk for m in warm], status="delivered").count()
                == len(warm),
                timeout=60,
                interval=0.2,
            )
            platform.mark()
            started = time.monotonic()
            answers = asyncio.run(storm())
        acked_in = time.monotonic() - started
        statuses: dict[int, int] = {}
        for status, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
        latencies = [t for _, t in answers]
        if not args.stored:
            print(
                f"  acknowledged {len(answers)} in {acked_in:.1f} s = {len(answers) / acked_in:.0f}/s "
                f"(closed loop, {args.concurrency} clients); p50 {ms(percentile(latencies, 50))}, "
                f"p99 {ms(percentile(latencies, 99))}; statuses {statuses}; {load()}",
                flush=True,
            )
        from messaging.models import CarrierEvent

        def settled() -> bool:
            final = dict(Message.objects.filter(pk__in=expected).values_list("pk", "status"))
            return (
                all(final[pk] == want for pk, want in expected.items())
                and not CarrierEvent.objects.filter(processed_at__isnull=True).exists()
            )

        platform.wait_for(settled, timeout=180, interval=0.2)
        elapsed = time.monotonic() - started
        final = dict(Message.objects.filter(pk__in=expected).values_list("pk", "status"))
        right = sum(1 for pk, want in expected.items() if final[pk] == want)
        since = "the workers were woken" if args.stored else "the first callback"
        print(
            f"  final states: {right}/{len(expected)} right ({100 * right / len(expected):.1f}%), "
            f"every event applied {elapsed:.1f} s after {since} = "
            f"{len(answers) / elapsed:.0f} callbacks/s end to end; {load()}",
            flush=True,
        )
        batches = list(
            CarrierEvent.objects.filter(message_id__in=expected)
            .values_list("processed_at")
            .annotate(n=Count("id"))
            .values_list("n", flat=True)
        )
        print(
            f"  {len(batches)} batches, events a batch: mean {sum(batches) / max(1, len(batches)):.1f}, "
            f"p50 {percentile(batches, 50):.0f}, max {max(batches, default=0)}",
            flush=True,
        )
        platform.report("storm", per=len(answers), unit="callback")


def store(platform: Platform, callbacks: list) -> list[tuple[int, float]]:
    """The callbacks stored as their webhook stores them (no worker runs yet); answers one
    (status, 0) per callback, as if acknowledged."""
    from urllib.parse import parse_qs, urlsplit

    from messaging.carrier_intake import intake_event
    from messaging.models import CarrierEvent, Message

    events = [
        intake_event(
            workspace_id=platform.workspace_id,
            provider="twilio",
            kind="status",
            payload=dict(params),
            message_id=parse_qs(urlsplit(url).query)["message_id"][0],
        )
        for url, params, _ in callbacks
    ]
    targets = {m.pk: m for m in Message.objects.filter(pk__in={e.message_id for e in events})}
    CarrierEvent.objects.bulk_create(
        [
            CarrierEvent(
                workspace_id=e.workspace_id,
                provider=e.provider,
                kind=e.kind,
                dedupe_key=e.dedupe_key,
                provider_sid=e.provider_sid,
                message=targets[e.message_id],
                params=e.payload,
            )
            for e in events
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return [(204, 0.0)] * len(callbacks)


if __name__ == "__main__":
    main()
