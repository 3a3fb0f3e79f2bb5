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


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one test module. Sync Playwright runs an event loop in the test thread
    while it is open, so it is closed at the end of the module: later tests may call
    asyncio.run, and the next module starts its own."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()

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
