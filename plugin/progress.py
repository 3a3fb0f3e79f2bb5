"""A progress line on stderr for long CLI jobs (demo replay, backfill)."""

from __future__ import annotations

import sys
import time


class Progress:
    """One self-rewriting line on stderr: what, how far, how fast."""

    def __init__(self, label: str, total: int | None, quiet: bool = False) -> None:
        self.label, self.total, self.done, self.quiet = label, total, 0, quiet
        self.started = time.perf_counter()

    def step(self, n: int = 1) -> None:
        before = self.done
        self.done += n
        if self.done == self.total or before // 100 != self.done // 100:
            self.show()

    def show(self, end: str = "") -> None:
        if self.quiet:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = f"{self.done / elapsed:,.0f}/s"
        if self.total:  # a bar when the total is known, a counter otherwise
            width = 30
            filled = min(width, int(width * self.done / self.total))
            bar = "#" * filled + "-" * (width - filled)
            line = f"{self.label:<18} [{bar}] {self.done}/{self.total}  {rate}"
        else:
            line = f"{self.label:<18} {self.done}  {rate}"
        sys.stderr.write(f"\r  {line}{end}")
        sys.stderr.flush()

    def finish(self) -> float:
        self.show(end="\n")
        return time.perf_counter() - self.started
