"""Benchmark 7: resident memory of each process at rest (every benchmark also prints it after its
run). Brings up everything, waits, and measures.

    .venv/bin/python bench/memory.py [--settle 10]
"""

import argparse
import time

from harness import Platform


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=10)
    args = parser.parse_args()
    with Platform(ws=True) as platform:
        platform.banner("memory at rest")
        platform.start_workers()
        time.sleep(args.settle)
        platform.mark()
        time.sleep(2)
        platform.report("at rest")
        print("  targets: a web process under 150 MB, a worker under 250 MB at rest", flush=True)


if __name__ == "__main__":
    main()
