"""Debian's Chromium driven by Playwright: the real browser for anything a shopper sees."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip on a developer machine without Chromium; in CI (CI=true) its absence fails."""
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing: `apt-get install chromium` (the CI script does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium for the whole session. Test modules import this fixture, so pytest may
    hold several session-scoped copies of it; they share one Playwright and one browser (a
    second sync Playwright in the same thread refuses to start), closed with the last one."""
    require_chromium()
    if not _SHARED:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=ARGS)
        _SHARED.update(playwright=playwright, browser=launched, users=0)
    _SHARED["users"] += 1
    try:
        yield _SHARED["browser"]
    finally:
        _SHARED["users"] -= 1
        if not _SHARED["users"]:
            _SHARED["browser"].close()
            _SHARED["playwright"].stop()
            _SHARED.clear()


_SHARED: dict[str, Any] = {}

# A normal desktop Chrome: the events endpoint ignores "HeadlessChrome" as bot traffic.
DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
VIEWPORT = {"width": 1200, "height": 1300}


class PageWatch:
    """What a page reports: uncaught exceptions and unhandled rejections (`pageerror`) and
    console errors in `errors`; the errors Chromium itself logs for a failed resource load
    ("Failed to load resource: ...", no script line) apart, by URL, in `failed_loads`."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.failed_loads: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = message.location or {}
        if message.text.startswith("Failed to load resource") and not where.get("lineNumber"):
            self.failed_loads.append(str(where.get("url", "")))
        else:
            self.errors.append(f"console.error: {message.text} at {where}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()
