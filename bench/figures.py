"""The benchmarks' small figure helpers: percentiles, milliseconds, the load average, wall time."""

import os
import time


def wall(monotonic: float) -> float:
    """A monotonic instant as wall-clock time, to compare with the carrier's receipt times."""
    return monotonic + (time.time() - time.monotonic())


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds == seconds else "n/a"
