"""Per-sender pacing: a long code (1/s), a toll-free number (3/s) and a short code (100/s), each
given a burst far beyond its rate at once, with the fake carrier enforcing those limits (429 beyond
them, as a token bucket). Achieved rates must be within 2% of the settings, with no 429.

`--saturate N` also queues, at the same moment, N messages from a second short code whose rate is
set far above what the workers can send (and which the carrier does not limit): its burst keeps
every worker busy for the whole run, and the paced senders must hold their rates through it.

    .venv/bin/python bench/pacing.py [--seconds 20] [--saturate 20000]
"""

import argparse
import time

from harness import LONG_CODE, SHORT_CODE, TOLL_FREE, Platform, load

BURST_CODE = "+12025550177"  # a second short code, unpaced, whose burst saturates the workers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20, help="how long each sender is busy")
    parser.add_argument(
        "--saturate", type=int, default=0, help="messages of an unpaced short code burst queued alongside"
    )
    args = parser.parse_args()

    with Platform(callbacks=False) as platform:
        platform.banner("pacing")
        from messaging.models import MessageEvent, Status
        from numbers.models import NumberType, PhoneNumber

        PhoneNumber.objects.update(send_rate=None)  # every number at its type's default rate
        if args.saturate:
            PhoneNumber.objects.create(
                workspace_id=platform.workspace_id,
                phone_number=BURST_CODE,
                number_type=NumberType.SHORT_CODE,
                send_rate=100000,
            )
            platform.carrier.call("add_number", platform.account[0], BURST_CODE)
        rates = {LONG_CODE: 1.0, TOLL_FREE: 3.0, SHORT_CODE: 100.0}
        for number, rate in rates.items():
            platform.carrier.call("set_rate_limit", number, rate)
        print(f"  carrier limits (token buckets, burst = max(1, rate)): {rates}", flush=True)
        platform.start_workers()
        # Warm every worker thread up (connections, sessions) so that cold first sends do not run
        # late and bunch up the ones behind them.
        platform.queue_messages(200, "warm-")
        platform.wait_for(lambda: platform.carrier.call("count") >= 200, timeout=120, interval=1)
        platform.carrier.call("reset")
        platform.mark()
        counts = {number: int(rate * args.seconds) + 1 for number, rate in rates.items()}
        started = time.monotonic()
        for number, count in counts.items():
            platform.queue_messages(count, f"pace{number}-", **{"from": number})
        if args.saturate:
            platform.queue_messages(args.saturate, "burst-", **{"from": BURST_CODE})
        total = sum(counts.values()) + args.saturate
        platform.wait_for(
            lambda: platform.carrier.call("count") >= total,
            timeout=args.seconds * 3 + 60 + args.saturate / 200,
            interval=1,
        )
        elapsed = time.monotonic() - started
        receipts = platform.carrier.call("receipts")
        stats = platform.carrier.call("stats")
        burst = sorted(at for _, sender, at in receipts if sender == BURST_CODE)
        print(
            f"  all {total} queued at once; {len(receipts)} reached the carrier in {elapsed:.1f} s; {load()}",
            flush=True,
        )
        if burst:
            paced_end = max(at for _, sender, at in receipts if sender in rates)
            busy = sum(1 for at in burst if at <= paced_end)
            rate = len(burst) / max(1e-9, burst[-1] - burst[0])
            print(
                f"    burst {BURST_CODE}: {len(burst)} sent at {rate:.0f}/s; {busy} of them while the "
                f"paced senders were still sending",
                flush=True,
            )
        for number, rate in rates.items():
            times = sorted(at for _, sender, at in receipts if sender == number)
            achieved = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
            gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
            median = 1 / gaps[len(gaps) // 2] if gaps and gaps[len(gaps) // 2] > 0 else float("nan")
            print(
                f"    {number}: setting {rate:g}/s, achieved {achieved:.3f}/s "
                f"({100 * (achieved / rate - 1):+.1f}%) first to last, {median:.3f}/s from the "
                f"median gap, over {len(times)} messages, "
                f"429s answered: {stats['rate_limited'].get(number, 0)}",
                flush=True,
            )
            # Where a run loses its rate: the widest gaps, and the closest (a 429 risk at 1/s); sends
            # retried after a carrier error, and sends moved to a fresh slot.
            if gaps:
                requeued = MessageEvent.objects.filter(
                    message__from_number=number,
                    message__body__startswith="pace",
                    status=Status.QUEUED,
                    source="worker",
                ).values_list("error_message", flat=True)
                retried = sum(1 for text in requeued if text.startswith("Retrying"))
                print(
                    f"      gaps x 1/rate: closest {', '.join(f'{g * rate:.3f}' for g in gaps[:3])}; "
                    f"widest {', '.join(f'{g * rate:.2f}' for g in gaps[-3:])}; {retried} retried after "
                    f"a carrier error, {len(requeued) - retried} moved to a fresh slot",
                    flush=True,
                )
            if rate <= 1:
                print(
                    f"      receipts (s from the first): {' '.join(f'{t - times[0]:.2f}' for t in times)}",
                    flush=True,
                )
        platform.report("pacing", per=len(receipts))


if __name__ == "__main__":
    main()
