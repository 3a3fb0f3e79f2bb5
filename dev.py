#!/usr/bin/env python3
"""Set up and run shopreco on a fresh machine that has only Python 3.11.

    python3.11 dev.py demo [shopreco demo options]   # the plugin with a demo shop
    python3.11 dev.py test [pytest options]          # ruff, mypy, lint-imports, the tests

The first run creates `.venv` here and installs the project into it (editable, with the
development tools); later runs reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".shopreco-installed"


def ensure_environment() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"shopreco needs Python 3.11, this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and (BIN / "shopreco").exists():
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing shopreco and its tools into .venv ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--editable", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def run(command: list[str]) -> int:
    return subprocess.run(command, cwd=ROOT).returncode


def test(args: list[str]) -> int:
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "mypy")],
        [str(BIN / "lint-imports")],
        [str(BIN / "python"), "-m", "pytest", *args],
    ]
    for step in steps:
        print("$", " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
              flush=True)
        code = run(step)
        if code:
            return code
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        print(__doc__)
        return 2
    ensure_environment()
    action, args = sys.argv[1], sys.argv[2:]
    if action == "demo":
        os.execv(BIN / "shopreco", [str(BIN / "shopreco"), "demo", *args])
    return test(args)


if __name__ == "__main__":
    sys.exit(main())
