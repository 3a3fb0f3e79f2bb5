"""The one request body reader: a size limit checked while reading, and JSON decoding."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from plugin.web.params import BadRequest


class BodyTooLarge(Exception):
    """The body is over the endpoint's limit (declared or while streaming)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over {limit} bytes")
        self.limit = limit


class InvalidJson(ValueError):
    """The body is not JSON; the message says where it broke."""


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (BodyTooLarge) as soon as it passes `limit` bytes. A client that
    goes away mid-body raises Starlette's ClientDisconnect."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """The JSON value of a body; InvalidJson names what is wrong with it."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidJson(f"the body is not valid JSON ({error})") from None


async def json_body(request: Request, shape: str) -> Any:
    """The JSON body of an API call, at most the configured SHOPRECO_MAX_BODY_BYTES; a
    BadRequest that shows `shape` (what to send) when it is not JSON."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        return decode_json(body)
    except InvalidJson:
        raise BadRequest(f"the body must be JSON: {shape}") from None
