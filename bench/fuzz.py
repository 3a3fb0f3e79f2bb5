"""A longer property-based fuzzing run than CI's: every webhook receiver (signed and unsigned),
every API and widget endpoint, generated bodies, headers and parameters (tests/test_fuzz.py);
the dashboard's pages and forms and the Shopify app's pages (tests/test_fuzz_owner.py).

    .venv/bin/python bench/fuzz.py [--examples 2000]

Properties: never a 5xx, never a hang, a 4xx leaves the shop's data byte for byte unchanged.
CI runs the same tests with SHOPRECO_FUZZ_EXAMPLES=40 per test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="examples per test")
    args = parser.parse_args()
    env = {**os.environ, "SHOPRECO_FUZZ_EXAMPLES": str(args.examples)}
    files = ["tests/test_fuzz.py", "tests/test_fuzz_owner.py"]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *files], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
