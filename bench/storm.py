"""Benchmark 5: status storm. Three status callbacks per message (sending, sent, then delivered, or
undelivered for one in ten), shuffled, with 10% of them sent twice, posted as fast as the platform
takes them (closed loop). Every message must end in its right final state.

    .venv/bin/python bench/storm.py [--messages 2000] [--concurrency 16]
"""

import argparse
import asyncio
import random
import time

import aiohttp
from harness import CONTACT, SHORT_CODE, Platform, load, ms, percentile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    from messaging_platform.testing.twilio_params import (  # after harness set the path
        new_sid,
        signature_headers,
        status_params,
    )

    with Platform() as platform:
        platform.banner("status storm")
        platform.start_workers()
        from messaging.models import Direction, Message, Status
        from workspaces.models import Workspace

        workspace = Workspace.objects.get(pk=platform.workspace_id)
        messages = [Message(workspace=workspace, direction=Direction.OUTBOUND, status=Status.SENDING,
                            to_number=CONTACT, from_number=SHORT_CODE, body=f"storm {i}",
                            provider_sid=new_sid("SM")) for i in range(args.messages)]
        Message.objects.bulk_create(messages)
        account_sid, token = platform.account
        rng = random.Random(7)
        expected, callbacks = {}, []
        for i, message in enumerate(messages):
            final = "undelivered" if i % 10 == 0 else "delivered"
            expected[message.id] = final
            url = f"{platform.url}/webhooks/twilio/{platform.workspace_id}/status?message_id={message.id}"
            for status in ("sending", "sent", final):
                params = status_params(message_sid=message.provider_sid, status=status,
                                       from_number=SHORT_CODE, to_number=CONTACT, account_sid=account_sid,
                                       error_code="30003" if status == "undelivered" else None)
                callbacks.append((url, params, signature_headers(url, params, token)))
        callbacks += rng.sample(callbacks, len(callbacks) // 10)
        rng.shuffle(callbacks)
        print(f"  {len(callbacks)} callbacks for {len(messages)} messages "
              f"({len(callbacks) - 3 * len(messages)} duplicates); {load()}", flush=True)

        async def storm() -> list[tuple[int, float]]:
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

        platform.mark()
        started = time.monotonic()
        answers = asyncio.run(storm())
        acked_in = time.monotonic() - started
        statuses: dict[int, int] = {}
        for status, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
        latencies = [t for _, t in answers]
        print(f"  acknowledged {len(answers)} in {acked_in:.1f} s = {len(answers) / acked_in:.0f}/s "
              f"(closed loop, {args.concurrency} clients); p50 {ms(percentile(latencies, 50))}, "
              f"p99 {ms(percentile(latencies, 99))}; statuses {statuses}; {load()}", flush=True)

        def settled() -> bool:
            final = dict(Message.objects.filter(pk__in=expected).values_list("pk", "status"))
            return all(final[pk] == want for pk, want in expected.items())

        platform.wait_for(settled, timeout=180, interval=1)
        elapsed = time.monotonic() - started
        final = dict(Message.objects.filter(pk__in=expected).values_list("pk", "status"))
        right = sum(1 for pk, want in expected.items() if final[pk] == want)
        print(f"  final states: {right}/{len(expected)} right ({100 * right / len(expected):.1f}%), "
              f"all applied {elapsed:.1f} s after the first callback = "
              f"{len(answers) / elapsed:.0f} callbacks/s end to end; {load()}", flush=True)
        platform.report("storm")


if __name__ == "__main__":
    main()
