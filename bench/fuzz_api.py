"""The long API fuzz: the suite's schemathesis test with many more examples (and another seed).

    .venv/bin/python bench/fuzz_api.py --examples 100 [--seed 8] [--report fuzz.json]

Uses DATABASE_URL/REDIS_URL as the test suite does (SQLite and local memory without them).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
parser.add_argument("--examples", type=int, default=100)
parser.add_argument("--seed", type=int, default=8)
parser.add_argument("--report", default=str(BASE_DIR / "fuzz-report.json"))
args = parser.parse_args()
env = {
    **os.environ,
    "FUZZ_EXAMPLES": str(args.examples),
    "FUZZ_SEED": str(args.seed),
    "FUZZ_REPORT": args.report,
}
sys.exit(
    subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:logging",
            "--timeout",
            "7200",
            "messaging_platform/tests/test_fuzz_api.py",
        ],
        cwd=BASE_DIR,
        env=env,
    )
)
