"""The one request body reader: a size limit checked while reading, and the one JSON decoder
(limits on nesting, number size and text) for every body and every fetched platform resource."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from plugin.store.fields import MAX_NUMBER_CHARS, is_text
from plugin.web.params import BadRequest


class BodyTooLarge(Exception):
    """The body is over the endpoint's limit (declared or while streaming)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over {limit} bytes")
        self.limit = limit


class InvalidJson(ValueError):
    """The body is not JSON; the message says where it broke."""


class BodyTimeout(Exception):
    """The whole body did not arrive within the time allowed (a slow or stalled client)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} seconds; send "
                         "the whole body at once")
        self.seconds = seconds


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The raw body, refusing (BodyTooLarge) as soon as it passes `limit` bytes, and
    (BodyTimeout) when the whole of it has not arrived within `timeout` seconds (default: the
    app's SHOPRECO_BODY_TIMEOUT_SECONDS). A client that goes away mid-body raises Starlette's
    ClientDisconnect. The one reader of a body in the app (nothing reads it before)."""
    if timeout is None:
        timeout = request.app.state.settings.body_timeout_seconds
    return await read_asgi_body(request.receive, request.headers.get("content-length", ""),
                                limit, timeout)


async def read_asgi_body(receive: Receive, declared: str, limit: int, timeout: float) -> bytes:
    """read_body for a pure ASGI endpoint: the body from `receive`, `declared` being its
    Content-Length header ("" for none); the same refusals."""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    if _arrived(receive):  # nothing to wait for: no deadline needed
        return await _read(receive, limit)
    try:
        async with asyncio.timeout(timeout):
            return await _read(receive, limit)
    except TimeoutError:
        raise BodyTimeout(timeout) from None


async def _read(receive: Receive, limit: int) -> bytes:
    """The body's messages joined, as Starlette's Request.stream() reads them (ClientDisconnect
    when the client goes away mid-body); a loop, not an async generator: the event loop keeps
    a weak reference to every one of those (2% of a webhook's instructions in all)."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _arrived(receive: Receive) -> bool:
    """Whether the server already holds the whole body, so reading it cannot wait: uvicorn's
    request cycle (the `receive` it hands the app) says so with `more_body` False once the
    last byte is in. Other servers, or a body still on its way, get the deadline. (A deadline
    arms a timer of the event loop: a tenth of a small POST's cost under load.)"""
    cycle = getattr(receive, "__self__", None)
    return getattr(cycle, "more_body", True) is False


# What a JSON value may hold, wherever it comes from (webhook, API or widget body, a platform
# resource we fetched): Python's json module alone recurses until RecursionError, turns a
# 5,000-digit integer into a ValueError, and keeps lone surrogates and NaN.
MAX_DEPTH = 32  # nested arrays / objects; real payloads stay under 10


def decode_json(body: bytes | str) -> Any:
    """The JSON value of a body within the limits above; InvalidJson names what is wrong:
    not JSON, nested deeper than MAX_DEPTH, a number longer than MAX_NUMBER_CHARS, NaN or
    Infinity, or a string that is not valid Unicode (a lone surrogate)."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the json module below says what is wrong (or reads a BOM, UTF-16)
    else:
        classes = raw.translate(_CLASSES)
        if _NUMBER_RUN not in classes:
            # no more arrays and objects than MAX_DEPTH: none can nest deeper (a count of the
            # bytes, strings included, is an upper bound, found without a walk)
            if classes.count(b"2") <= MAX_DEPTH or not _too_deep(value):
                return value
            raise InvalidJson(f"the body is nested more than {MAX_DEPTH} levels deep")
        if _plain(value):
            return value
    try:
        value = json.loads(body, parse_int=_bounded_int, parse_float=_bounded_float,
                           parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidJson(f"the body is not valid JSON ({error})") from None
    except RecursionError:
        raise InvalidJson(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    _check_tree(value)
    return value


# orjson (about 5x faster) reads a body exactly as the json module with the limits above does
# when it accepts it at all: it refuses NaN, Infinity, a number that overflows a double, lone
# surrogates and invalid UTF-8; but it turns an integer beyond 64 bits into a float. So a body
# without a run of 20 or more number characters (anywhere, strings too: a false alarm only
# costs time) is read alike by both, and so is a value without floats (`_plain`: every number
# an integer orjson read exactly, hence of at most 20 characters). Other bodies are left to the
# json module, and so is every body orjson refuses.
# each byte's class, in one pass: "1" a number character, "2" an opening bracket, "0" else
_CLASSES = bytes(49 if byte in b"-+.0123456789eE" else 50 if byte in b"{[" else 48
                 for byte in range(256))
_NUMBER_RUN = b"1" * 20


def _plain(value: Any) -> bool:
    """Nested at most MAX_DEPTH levels deep and holding no float (level by level, no
    recursion); a webhook's order has a few hundred values, so this walk is the check's cost."""
    if type(value) is float:
        return False
    level = [value] if type(value) is dict or type(value) is list else []
    for _depth in range(MAX_DEPTH):
        deeper = []
        for node in level:
            for item in node.values() if type(node) is dict else node:
                kind = type(item)
                if kind is dict or kind is list:
                    deeper.append(item)
                elif kind is float:
                    return False
        if not deeper:
            return True
        level = deeper
    return False


def _too_deep(value: Any) -> bool:
    """Whether arrays / objects nest deeper than MAX_DEPTH (level by level, no recursion)."""
    level = [value] if type(value) is dict or type(value) is list else []
    for _depth in range(MAX_DEPTH):
        deeper = []
        for node in level:
            for item in node.values() if type(node) is dict else node:
                if type(item) is dict or type(item) is list:
                    deeper.append(item)
        if not deeper:
            return False
        level = deeper
    return True


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_NUMBER_CHARS:
        raise InvalidJson(f"the body holds a number of more than {MAX_NUMBER_CHARS} digits")
    return int(literal)


def _bounded_float(literal: str) -> float:
    value = float(literal)
    if len(literal) > MAX_NUMBER_CHARS or not math.isfinite(value):
        raise InvalidJson(f"the body holds a number out of range: {literal[:MAX_NUMBER_CHARS]!r}")
    return value


def _no_constant(name: str) -> Any:
    raise InvalidJson(f"the body is not valid JSON ({name} is not a JSON number)")


def _check_tree(value: Any) -> None:
    """Depth and text of every node, iteratively (no recursion on hostile input)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise InvalidJson(f"the body is nested more than {MAX_DEPTH} levels deep")
            if isinstance(node, dict):
                for key, item in node.items():
                    _check_text(key)
                    pending.append((item, depth + 1))
            else:
                pending.extend((item, depth + 1) for item in node)


def _check_text(text: str) -> None:
    if not is_text(text):
        raise InvalidJson("the body holds a string that is not valid Unicode (a lone "
                          "surrogate such as \\ud800)")


async def json_body(request: Request, shape: str) -> Any:
    """The JSON body of an API call, at most the configured SHOPRECO_MAX_BODY_BYTES; a
    BadRequest naming what is wrong and showing `shape` (what to send) otherwise."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        return decode_json(body)
    except InvalidJson as error:
        raise BadRequest(f"{error}; send JSON: {shape}") from None
