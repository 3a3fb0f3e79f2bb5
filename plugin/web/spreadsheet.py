"""CSV that spreadsheets read safely: every export (the nurture feed, the admin's customer
lists) writes its cells through `spreadsheet_cell` and names its file with `attachment_name`."""

from __future__ import annotations

import re
from typing import Any

# Text cells that start with one of these get the guard: = + - @ tab CR (OWASP "CSV
# Injection"), NUL (OWASP ASVS 1.2.10), LF (a line break, like CR) and | (the DDE separator of
# =cmd|'/c calc'!A0).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "|")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def spreadsheet_cell(value: Any) -> Any:
    """A CSV cell as spreadsheets should read it: None is empty, numbers we computed stay
    numbers, text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP's
    treatment: the cell is read as text; the apostrophe may show, which beats running it).

    The check also looks past leading whitespace: OWASP warns that the first character alone is
    not enough, and importers that trim cells (LibreOffice's "Trim spaces", e-mail tools that
    strip values) turn " =1+1" into a formula. The apostrophe goes before the whole value, so
    the spaces are kept. Separators, quotes and line breaks inside a cell cannot start a new
    cell: csv.writer quotes such cells (RFC 4180)."""
    if value is None:
        return ""
    if isinstance(value, str) and (value.startswith(FORMULA_START)
                                   or value.lstrip().startswith(FORMULA_START)):
        return "'" + value
    return value


def attachment_name(*parts: str) -> str:
    """A download's file name from parts that may hold any printable id (quotes, slashes,
    spaces): each part keeps only letters, digits, dot, dash and underscore, joined by '-', so
    the Content-Disposition header stays one well-formed quoted string."""
    kept = [_UNSAFE_IN_NAME.sub("_", part).strip("._") or "_" for part in parts]
    return "-".join(kept)[:120] + ".csv"
