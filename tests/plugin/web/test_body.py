"""The one body reader over real HTTP: the size limit (declared or streamed), JSON decoding, and
the answers every surface gives for them (the test server's limit is 64 KB)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from plugin.store.shops import NewShop
from plugin.web import body as body_module
from plugin.web.body import BodyTooLarge, InvalidJson, decode_json, read_asgi_body
from tests.helpers import auth

LIMIT = 64 * 1024


def cart_url(shop: NewShop) -> str:
    return f"/api/v1/shops/{shop.shop.shop_id}/recommendations/cart"


def chunks(total: int) -> Iterator[bytes]:
    """A body sent chunked, without a Content-Length: only counting while reading stops it."""
    sent = 0
    while sent < total:
        sent += 4096
        yield b" " * 4096


def test_a_declared_body_over_the_limit_is_413(http, shop) -> None:
    body = b'{"product_ids": []}' + b" " * LIMIT
    response = http.post(cart_url(shop), content=body, headers=auth(shop))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert str(LIMIT) in response.json()["detail"]


def test_a_streamed_body_over_the_limit_is_413(http, shop) -> None:
    response = http.post(cart_url(shop), content=chunks(LIMIT + 4096), headers=auth(shop))
    assert response.status_code == 413


def test_a_body_at_the_limit_is_read(http, shop) -> None:
    body = b'{"product_ids": ["1"]}'
    body += b" " * (LIMIT - len(body))
    response = http.post(cart_url(shop), content=body, headers=auth(shop))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/widgets/v1/events", "/webhooks/custom/x"])
def test_every_surface_refuses_an_oversized_body_with_413(http, shop, path) -> None:
    params = {"key": shop.shop.widget_key} if "widgets" in path else {}
    response = http.post(path, params=params, content=chunks(LIMIT * 2 + 4096))
    assert response.status_code == 413


def test_a_body_that_is_not_json_says_what_to_send(http, shop) -> None:
    response = http.post(cart_url(shop), content=b"{nope", headers=auth(shop))
    assert response.status_code == 400
    assert '{"product_ids": [...], "limit": N}' in response.json()["detail"]


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"{", b"[1,]"])
def test_decode_json_names_what_is_wrong(raw) -> None:
    with pytest.raises(InvalidJson, match="not valid JSON"):
        decode_json(raw)


def test_decode_json_reads_json() -> None:
    assert decode_json(b'{"a": [1, "2"]}') == {"a": [1, "2"]}


def test_the_test_server_limit_is_what_these_tests_assume(store) -> None:
    assert store.settings.max_body_bytes == LIMIT


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[" * 1000 + b"]" * 1000, "nested more than 32 levels"),
    (b"[" * 33 + b"]" * 33, "nested more than 32 levels"),
    (b"[" * 33 + b"1.5" + b"]" * 33, "nested more than 32 levels"),
    (b'{"a": 0.' + b"0" * 40 + b"1}", "out of range"),
    (b"9" * 4301, "more than 40 digits"),
    (b"1e400", "out of range"),
    (b"NaN", "NaN is not a JSON number"),
    (b'"\\ud800"', "not valid Unicode"),
    (b'{"\\udfff": 1}', "not valid Unicode"),
])
def test_decode_json_limits_depth_numbers_and_text(raw, reason) -> None:
    with pytest.raises(InvalidJson, match=reason):
        decode_json(raw)


def test_decode_json_keeps_what_is_within_the_limits() -> None:
    nested = b"[" * 32 + b"]" * 32
    assert decode_json(nested) is not None
    many = b"[" + b",".join([b'{"a": [1.5]}'] * 40) + b"]"  # 81 containers, 3 levels deep
    assert decode_json(many) == [{"a": [1.5]}] * 40
    assert decode_json(b'["[[[[", "{{{{"]') == ["[[[[", "{{{{"]
    assert decode_json(b'{"price": 12.5, "id": 12345678901234567890}') == {
        "price": 12.5, "id": 12345678901234567890}
    assert decode_json(b'[18446744073709551616, -9223372036854775809, 1e20]') == [
        18446744073709551616, -9223372036854775809, 1e20]  # beyond 64 bits: still exact


@pytest.mark.parametrize("body", [b"[" * 1000 + b"]" * 1000, b'{"product_ids": ["\\ud800"]}',
                                  b'{"product_ids": [' + b"9" * 4301 + b"]}"])
def test_hostile_json_is_a_400_not_a_500(http, shop, body) -> None:
    response = http.post(cart_url(shop), content=body, headers=auth(shop))
    assert response.status_code == 400, response.text


def _in_one_write(http: Any, shop: NewShop, body: bytes) -> bytes:
    """POST `body` with its headers in one write (one loopback segment, so uvicorn has it
    whole before the app runs, however loaded the machine); the answer's first bytes."""
    where = http.base_url
    head = (f"POST {cart_url(shop)} HTTP/1.1\r\nHost: {where.host}:{where.port}\r\n"
            f"Authorization: {auth(shop)['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection((where.host, where.port), timeout=30) as connection:
        connection.sendall(head + body)
        return connection.recv(64)


def test_a_deadline_is_armed_only_for_a_body_still_on_its_way(http, shop, monkeypatch) -> None:
    """uvicorn holds a small body whole before the app runs: reading it cannot wait, so no
    timer is armed; a body still arriving is read under the deadline (tests/plugin/web/
    test_body_timeout.py shows it firing)."""
    armed: list[float] = []

    def deadline(seconds: float) -> Any:
        armed.append(seconds)
        return asyncio.timeout(seconds)

    monkeypatch.setattr(body_module, "asyncio", SimpleNamespace(timeout=deadline))
    assert _in_one_write(http, shop, b'{"product_ids": []}').startswith(b"HTTP/1.1 200 ")
    assert armed == []

    def slowly() -> Iterator[bytes]:
        yield b'{"product_ids":'
        time.sleep(0.3)  # the rest comes later: the app is reading by then
        yield b" []}"

    trickled = http.post(cart_url(shop), content=slowly(), headers=auth(shop))
    assert trickled.status_code == 200 and armed == [60]  # the test server's deadline


def _receive(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)
    return receive


def test_read_asgi_body_joins_the_chunks_within_the_limit() -> None:
    receive = _receive({"type": "http.request", "body": b"ab", "more_body": True},
                       {"type": "http.request", "body": b"cd", "more_body": False})
    assert asyncio.run(read_asgi_body(receive, "", 4, 5.0)) == b"abcd"


@pytest.mark.parametrize(("declared", "messages", "error"), [
    ("5", [], BodyTooLarge),
    ("", [{"type": "http.request", "body": b"abc", "more_body": True},
          {"type": "http.request", "body": b"de"}], BodyTooLarge),
    ("", [{"type": "http.request", "body": b"ab", "more_body": True},
          {"type": "http.disconnect"}], ClientDisconnect),
])
def test_read_asgi_body_refuses_as_read_body_does(declared, messages, error) -> None:
    with pytest.raises(error):
        asyncio.run(read_asgi_body(_receive(*messages), declared, 4, 5.0))


class _Arrived:
    """A server's request cycle that holds the whole body (uvicorn's says so with
    `more_body` False): read_asgi_body reads it without a deadline."""

    more_body = False

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.messages = list(messages)
        self.received = 0

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        return self.messages.pop(0)


def test_a_body_the_server_holds_whole_is_read_in_one_message() -> None:
    cycle = _Arrived({"type": "http.request", "body": b"abcd", "more_body": False})
    assert asyncio.run(read_asgi_body(cycle.receive, "4", 4, 5.0)) == b"abcd"
    assert cycle.received == 1


@pytest.mark.parametrize(("declared", "messages", "outcome"), [
    ("", [{"type": "http.request", "body": b"abcde"}], BodyTooLarge),  # no Content-Length
    ("5", [{"type": "http.request", "body": b"abcde"}], BodyTooLarge),  # never received
    ("", [{"type": "http.request", "body": b"ab", "more_body": True},
          {"type": "http.request", "body": b"cd"}], b"abcd"),  # not whole after all
    ("", [{"type": "http.request", "body": b"ab", "more_body": True},
          {"type": "http.request", "body": b"cde"}], BodyTooLarge),
    ("", [{"type": "http.disconnect"}], ClientDisconnect),
])
def test_a_body_said_to_be_whole_keeps_every_refusal(declared, messages, outcome) -> None:
    cycle = _Arrived(*messages)
    if isinstance(outcome, bytes):
        assert asyncio.run(read_asgi_body(cycle.receive, declared, 4, 5.0)) == outcome
        return
    with pytest.raises(outcome):
        asyncio.run(read_asgi_body(cycle.receive, declared, 4, 5.0))
