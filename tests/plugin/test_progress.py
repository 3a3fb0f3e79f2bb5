"""The CLI's progress line (plugin/progress.py): one line on stderr rewritten in place, a bar
when the total is known, a counter otherwise, shown every hundred steps and at the end."""

from __future__ import annotations

import re

import pytest

from plugin.progress import Progress


def shown(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The states of the line written since the last call (each starts with a carriage
    return: it overwrites the one before)."""
    captured = capsys.readouterr()
    assert captured.out == ""  # never on stdout, where a command prints its result
    assert captured.err == "" or captured.err.startswith("\r")
    return captured.err.split("\r")[1:]


def test_a_bar_when_the_total_is_known(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("replaying webhooks", 200)
    progress.step(99)
    assert shown(capsys) == []  # not every step
    progress.step()
    (half,) = shown(capsys)
    assert re.fullmatch(r"  replaying webhooks \[#{15}-{15}\] 100/200  [\d,]+/s", half), half
    progress.step(100)
    (full,) = shown(capsys)
    assert "[" + "#" * 30 + "] 200/200" in full


def test_a_counter_when_it_is_not(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("importing orders", None)
    progress.step(50)
    assert shown(capsys) == []
    progress.step(60)  # past a hundred
    (line,) = shown(capsys)
    assert re.fullmatch(r"  importing orders   110  [\d,]+/s", line), line


def test_finish_ends_the_line_and_returns_the_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("backfilling orders", None)
    progress.step(3)
    seconds = progress.finish()
    (line,) = shown(capsys)
    assert line.startswith("  backfilling orders 3  ") and line.endswith("/s\n")
    assert 0 <= seconds < 5


def test_a_total_set_later_turns_the_counter_into_a_bar(capsys) -> None:
    progress = Progress("backfilling orders", None)  # as backfill learns the total per page
    progress.total = 4
    progress.step(4)
    (line,) = shown(capsys)
    assert "[" + "#" * 30 + "] 4/4" in line


def test_more_than_the_total_keeps_the_bar_full(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("x", 10)
    progress.step(150)
    (line,) = shown(capsys)
    assert "[" + "#" * 30 + "] 150/10" in line


def test_quiet_writes_nothing_but_still_times(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("x", 1, quiet=True)
    progress.step()
    assert progress.finish() >= 0
    assert capsys.readouterr().err == ""
