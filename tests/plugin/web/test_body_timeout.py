"""The body reader's deadline over a raw loopback socket: a body that has not arrived within
SHOPRECO_BODY_TIMEOUT_SECONDS is answered 408, the connection is closed and nothing is stored."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from plugin.store import keys
from plugin.store.shops import NewShop
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import auth, body_of, order_payload, shopify_headers

TIMEOUT = 1  # SHOPRECO_BODY_TIMEOUT_SECONDS of this module's server
MARGIN = 1.5  # seconds an answer may take beyond the deadline on a busy test machine


@pytest.fixture(scope="module")
def port(store: Store) -> Iterator[int]:
    settings = settings_for(store, body_timeout_seconds=TIMEOUT, run_worker=False)
    with LiveServer(settings) as url:
        yield int(url.rsplit(":", 1)[1])


def order_webhook(shop: NewShop) -> tuple[str, bytes, dict[str, str]]:
    body = body_of(order_payload(7001, 1, [101, 102]))
    secret = shop.shop.webhook_secrets[0].reveal()
    return "/webhooks/shopify", body, shopify_headers(shop.shop.domain, secret, body)


def open_post(port: int, path: str, length: int, headers: dict[str, str]) -> socket.socket:
    """A connection that has sent a POST's head announcing `length` body bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + MARGIN)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}",
             *(f"{name}: {value}" for name, value in headers.items())]
    sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n")
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of the answer, read until the server closes the connection
    (a socket.timeout here means it kept the connection open)."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


def shop_data(store: Store, shop: NewShop) -> dict[bytes, Any]:
    """Every key of the shop with its serialized value, streams with their length (a running
    worker may create an empty one for its consumer group), rate-limit counters aside."""
    async def dump(redis: Any) -> dict[bytes, Any]:
        data = {}
        async for key in redis.scan_iter(match=keys.shop_pattern(shop.shop.shop_id)):
            if await redis.type(key) == b"stream":
                data[key] = await redis.xlen(key) or None
            elif b":widget:rate:" not in key and b":api:rate:" not in key:
                data[key] = await redis.dump(key)
        return {key: value for key, value in data.items() if value is not None}
    return store.run(dump)


def test_a_stalled_webhook_body_is_408_and_stores_nothing(port, store, shop) -> None:
    path, body, headers = order_webhook(shop)
    before = shop_data(store, shop)
    started = time.monotonic()
    with open_post(port, path, len(body), headers) as sock:
        sock.sendall(body[: len(body) // 2])
        status, answer_headers, problem = answer(sock)
    elapsed = time.monotonic() - started
    assert status == 408 and TIMEOUT - 0.1 <= elapsed <= TIMEOUT + MARGIN
    assert answer_headers["content-type"] == "application/problem+json"
    assert answer_headers["connection"] == "close"
    assert f"within {TIMEOUT} seconds" in problem["detail"]
    assert shop_data(store, shop) == before
    assert store.run(lambda r: r.xlen(keys.events(shop.shop.shop_id))) == 0


def test_a_body_trickling_in_is_cut_off_at_the_deadline_not_when_idle(port, shop) -> None:
    path, body, headers = order_webhook(shop)
    started = time.monotonic()
    with open_post(port, path, len(body), headers) as sock:
        for byte in body:  # one byte every 0.2 s: never idle, but far too slow in all
            if select.select([sock], [], [], 0.2)[0]:
                break
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(bytes([byte]))
        status, _, _ = answer(sock)
    assert status == 408 and time.monotonic() - started <= TIMEOUT + MARGIN


def test_a_slow_body_that_arrives_in_time_is_stored(port, store, shop) -> None:
    path, body, headers = order_webhook(shop)
    with open_post(port, path, len(body), {**headers, "Connection": "close"}) as sock:
        sock.sendall(body[: len(body) // 2])
        time.sleep(TIMEOUT / 3)
        sock.sendall(body[len(body) // 2:])
        status, _, accepted = answer(sock)
    assert status == 200 and accepted["status"] == "accepted"
    assert store.run(lambda r: r.xlen(keys.events(shop.shop.shop_id))) == 1


@pytest.mark.parametrize("surface", ["widget events", "API"])
def test_every_body_reading_surface_answers_408(port, store, shop, surface) -> None:
    if surface == "API":
        path = f"/api/v1/shops/{shop.shop.shop_id}/recommendations/cart"
        headers = auth(shop)
    else:
        path = f"/widgets/v1/events?key={shop.shop.widget_key}"
        headers = {"Content-Type": "text/plain;charset=UTF-8"}
    body = json.dumps({"visitor_id": "v-1", "product_ids": ["1"], "events": []}).encode()
    before = shop_data(store, shop)
    with open_post(port, path, len(body), headers) as sock:
        sock.sendall(body[:10])
        status, answer_headers, problem = answer(sock)
    assert status == 408 and answer_headers["connection"] == "close"
    assert f"within {TIMEOUT} seconds" in problem["detail"]
    assert shop_data(store, shop) == before
