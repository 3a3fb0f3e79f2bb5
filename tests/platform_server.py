"""A stand-in for a platform's REST API on 127.0.0.1: scripted JSON replies, requests recorded.

    with FakePlatformApi() as api:
        api.reply("/1003/orders/103", Reply(500), Reply(200, order))
        ...  # point the shop's --api-base at api.url

Each GET is matched against the routes in the order they were added (path equal, and the
route's query parameters, if any, present with those values); a route's replies are used in
turn and the last one repeats. Anything unmatched answers 404.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import redis.asyncio as aioredis

from plugin.config import Secret
from plugin.store import keys
from plugin.store.order import Order
from plugin.store.records import get_order
from plugin.store.shops import PlatformAccess, Shop, add_shop
from tests.conftest import Store
from webhooks.http import PlatformHttp
from webhooks.ingest import Ingestor


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable; None sends an empty body
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request as the fake API received it; `at` is time.monotonic() on arrival."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class _Route:
    path: str
    query: dict[str, str]
    replies: list[Reply]

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        return path == self.path and all(query.get(k) == v for k, v in self.query.items())

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FakePlatformApi:
    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def reply(
        self, path: str, *replies: Reply | Any, query: Mapping[str, Any] | None = None
    ) -> None:
        """Answer GET `path` with `replies` in turn (a bare value is a 200 JSON reply)."""
        scripted = [r if isinstance(r, Reply) else Reply(200, r) for r in replies]
        wanted = {k: str(v) for k, v in (query or {}).items()}
        with self._lock:
            self._routes.append(_Route(path, wanted, scripted))

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def __enter__(self) -> FakePlatformApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _answer(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        with self._lock:
            self.seen.append(Seen(method, parts.path, query, dict(headers), time.monotonic()))
            for route in self._routes:
                if route.matches(parts.path, query):
                    return route.next_reply()
        return Reply(404, {"errorMessage": f"no such resource: {parts.path}"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._answer("GET", self.path, headers)
                body = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                if reply.body is not None:
                    self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test asserts on `seen` instead

        return Handler


# Helpers for the tests of platforms whose worker fetches from this fake API.


def fast_http() -> PlatformHttp:
    """The worker's HTTP client with a quick backoff; Retry-After is still honoured."""
    return PlatformHttp(rate_per_second=500, burst=500, backoff_base=0.05)


def register_shop(
    store: Store, platform: str, store_ref: str, api_base: str, secret: str | None = None,
    api_token: str | None = None,
) -> Shop:
    """A new shop of `platform` whose API is `api_base`; unique id and domain."""
    shop_id = f"{platform[:2]}-{uuid.uuid4().hex[:12]}"
    access = PlatformAccess(store_ref=store_ref, api_base=api_base,
                            api_token=Secret(api_token or f"secret_{uuid.uuid4().hex}"))
    new = store.run(lambda redis: add_shop(
        redis, shop_id, platform, f"{shop_id}.example", "http://testserver",
        webhook_secret=secret, currency="EUR", access=access,
    ))
    return new.shop


def drain(store: Store, shop_id: str) -> None:
    """Process every event accepted for the shop so far, fetching through a fresh client."""
    async def work(redis: aioredis.Redis) -> None:
        http = fast_http()
        try:
            await Ingestor(redis, http=http).drain(shop_id)
        finally:
            await http.aclose()

    store.run(work)


def stored_order(store: Store, shop_id: str, order_id: str) -> Order | None:
    return store.run(lambda redis: get_order(redis, shop_id, order_id))


def stored_product(store: Store, shop_id: str, product_id: str) -> dict[str, Any] | None:
    raw = store.run(lambda redis: redis.hget(keys.products(shop_id), product_id))
    return None if raw is None else dict(json.loads(raw))


def dead_letters(store: Store, shop_id: str) -> list[dict[bytes, bytes]]:
    entries = store.run(lambda redis: redis.xrange(keys.dead_letters(shop_id)))
    return [fields for _entry_id, fields in entries]


def stream_length(store: Store, shop_id: str) -> int:
    return int(store.run(lambda redis: redis.xlen(keys.events(shop_id))))
