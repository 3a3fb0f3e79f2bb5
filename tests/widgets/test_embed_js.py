"""The embed script as a file: its size budget and the rules it keeps. (What it does in a
browser is tested in tests/widgets/test_storefront_browser.py.)"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import widgets

EMBED = Path(widgets.__file__).parent / "static" / "embed.js"
BUDGET_BYTES = 6 * 1024  # gzipped


def test_embed_script_fits_the_size_budget_gzipped() -> None:
    size = len(gzip.compress(EMBED.read_bytes(), compresslevel=9))
    assert size <= BUDGET_BYTES, f"embed.js is {size} bytes gzipped; the budget is {BUDGET_BYTES}"


def test_the_served_script_is_the_file(http) -> None:
    response = http.get("/widgets/v1/embed.js")
    assert response.status_code == 200
    assert response.content == EMBED.read_bytes()


@pytest.mark.parametrize("sink", [
    "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(",
    "console.",
])
def test_embed_script_never_parses_html_nor_logs(sink: str) -> None:
    """Product text goes in with textContent only, and the shop's console stays clean."""
    assert sink not in EMBED.read_text()


def test_embed_script_has_no_dependencies() -> None:
    source = EMBED.read_text()
    assert "import " not in source and "require(" not in source
    assert source.count("<script") == 0  # loads nothing else
