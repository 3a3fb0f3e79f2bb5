"""Parsing of request parameters: every refusal is a BadRequest whose message says what to send."""

from __future__ import annotations

import base64
from typing import Any

from plugin.store.fields import PayloadError, id_string

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class BadRequest(ValueError):
    """A parameter or body the endpoint cannot use; answered with 400 and this message."""


def parse_limit(raw: Any) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}") from None
    if not 1 <= limit <= MAX_LIMIT or isinstance(raw, bool):
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return limit


def parse_bool(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}")


def parse_id(name: str, raw: Any) -> str:
    """An id as the field rules keep it (plugin.store.fields.id_string): 1 to 128 printable
    characters, or an integer."""
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw) == "":
        raise BadRequest(f"{name} must be a non-empty string id, got {raw!r}")
    try:
        return str(id_string(raw, name))
    except PayloadError as error:
        raise BadRequest(str(error)) from None


def parse_int(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def page_cursor(after: str) -> str:
    """The cursor of a page that ends with `after` (opaque to clients: base64url of it)."""
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def parse_page_cursor(raw: str | None) -> str | None:
    """What page_cursor encoded, or None without a cursor; BadRequest for any other text."""
    if raw is None:
        return None
    try:
        after = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("cursor is not one this list gave: pass next_cursor unchanged") from None
    if not after or page_cursor(after) != raw:
        raise BadRequest("cursor is not one this list gave: pass next_cursor unchanged")
    return after
