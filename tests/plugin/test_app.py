"""The Starlette app (plugin/app.py) over real HTTP: every surface routed, /healthz, a Redis
failure answered 503 as problem+json, and the lifespan: the store migrated on start and the
worker run only when SHOPRECO_RUN_WORKER says so (and stopped with the app); webhooks past the
router (WebhookShortcut) with the same answers, and so do the API's recommendation calls."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import SlotNotCoveredError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.app import WebhookShortcut, create_app
from plugin.config import Settings
from plugin.engine.train_requests import worker_is_alive
from plugin.store import events, keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.events import Event, append
from plugin.store.migrations import MIGRATIONS
from plugin.store.shops import NewShop, add_shop
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import body_of, eventually, order_payload, shopify_headers
from widgets import routes as widget_routes


@pytest.fixture
def fresh() -> Iterator[Store]:
    """A data folder nothing has opened yet."""
    path = Path(tempfile.mkdtemp(prefix="shopreco-app-"))
    embedded = EmbeddedRedis(path, fsync_always=False)
    try:
        yield Store(embedded, Settings(data_dir=path, fsync_always=False,
                                       public_url="http://testserver"))
    finally:
        embedded.close()
        shutil.rmtree(path, ignore_errors=True)


async def broken(request: Request) -> Response:
    raise RedisConnectionError("Connection refused")


async def no_node(request: Request) -> Response:
    raise SlotNotCoveredError("no node holds slot 1234")  # a RedisClusterException


def test_every_surface_is_routed_and_the_widgets_first(store: Store) -> None:
    app = create_app(settings_for(store, run_worker=False))
    assert app.state.settings.run_worker is False
    assert app.routes[:len(widget_routes.routes)] == widget_routes.routes  # the busiest first
    with LiveServer(app.state.settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        answers = {
            "widget script": client.get("/widgets/v1/embed.js"),
            "webhooks": client.post("/webhooks/shopify", content=b"{}"),
            "API": client.get("/api/v1/shops/x/recommendations/trending"),
            "lifecycle API": client.get("/api/v1/shops/x/lifecycle/metrics"),
            "nurture feed": client.get("/api/v1/shops/x/lifecycle/feed"),
            "privacy API": client.get("/api/v1/shops/x/customers/1/data"),
            "e-mail blocks": client.get("/email/v1/blocks/x/1"),
            "widget stats": client.get("/api/v1/shops/x/widgets/stats"),
            "Shopify app": client.get("/shopify/api/status"),
            "dashboard": client.get("/admin/signin"),
        }
        assert all(routed(response) for response in answers.values()), answers
        assert not routed(client.get("/no/such/path"))


def routed(response: httpx.Response) -> bool:
    """Answered by one of the app's routes: Starlette's own 404 is plain text, every error
    of ours a problem+json (a 404 too: an unknown shop)."""
    return response.status_code != 404 or \
        response.headers["content-type"] == "application/problem+json"


def test_health_names_the_process(store: Store) -> None:
    with LiveServer(settings_for(store, run_worker=False)) as url:
        response = httpx.get(f"{url}/healthz", timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["process"] == os.getpid()  # "redis": tests/plugin/store/test_health.py


def test_a_redis_failure_is_a_503_problem_to_retry(store: Store,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(store, run_worker=False)
    with LiveServer(settings, [Route("/broken", broken)]) as url:
        response = httpx.get(f"{url}/broken", timeout=30)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == ("storage (Redis) is unavailable; the request was not "
                                         "stored, retry later")
    assert "storage unavailable for GET /broken: ConnectionError" in caplog.text
    assert "Connection refused" not in caplog.text  # the type, not what it says


def test_a_cluster_without_a_node_for_the_slot_is_the_same_503(store: Store) -> None:
    """redis-py's cluster errors are not RedisErrors (no node holds a slot mid-failover):
    Redis being away all the same, not a 500."""
    with LiveServer(settings_for(store, run_worker=False), [Route("/no-node", no_node)]) as url:
        response = httpx.get(f"{url}/no-node", timeout=30)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


def test_a_redis_failure_during_a_webhook_is_the_same_503(
        store: Store, shop: NewShop, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Webhooks skip the router (WebhookShortcut) but not its answer to a Redis failure."""
    async def failing(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(events, "append", failing)
    body = body_of(order_payload(5, 1, [1]))
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    with LiveServer(settings_for(store, run_worker=False)) as url:
        response = httpx.post(f"{url}/webhooks/shopify", content=body, headers=headers,
                              timeout=30)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert "storage unavailable for POST /webhooks/shopify: ConnectionError" in caplog.text


def test_only_a_post_to_a_receiver_url_takes_the_webhook_shortcut(http) -> None:
    assert http.get("/webhooks/shopify").status_code == 405  # the route's answer
    assert http.post("/webhooks/shopify/").status_code in (307, 404)  # not a receiver URL
    assert http.post("/webhooks/shopify/a/b", content=b"{}").status_code == 404
    assert http.post("/webhooks", content=b"{}").status_code == 404


def test_other_requests_reach_the_app_unchanged() -> None:
    seen: list[object] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(scope.get("path", scope["type"]))

    shortcut = WebhookShortcut(app)
    for scope in ({"type": "http", "method": "GET", "path": "/webhooks/shopify"},
                  {"type": "http", "method": "POST", "path": "/api/v1/x"},
                  {"type": "http", "method": "POST", "path": "/webhooks/shopify",
                   "root_path": "/reco"},
                  {"type": "lifespan"}):
        asyncio.run(shortcut(scope, None, None))
    assert seen == ["/webhooks/shopify", "/api/v1/x", "/webhooks/shopify", "lifespan"]


def _hot_app() -> tuple[WebhookShortcut, list[object]]:
    """The shortcut with one hot route, in front of an app that notes what reaches it."""
    reached: list[object] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append((scope["method"], scope["path"]))
        await Response("routed", 405)(scope, receive, send)

    async def item(request: Request) -> Response:
        if request.path_params["item"] == "broken":
            raise RedisConnectionError("Connection refused")
        return Response(f"item {request.path_params['item']} of {request.path_params['shop_id']}")

    hot = [Route("/api/v1/shops/{shop_id}/items/{item}", item)]
    return WebhookShortcut(app, hot=hot), reached


def _ask(app: WebhookShortcut, method: str, path: str, root_path: str = "") -> tuple[int, bytes]:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "root_path": root_path,
             "query_string": b"", "headers": [], "app": None}
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), bytes(sent[1]["body"])


def test_a_hot_route_is_answered_before_the_router_as_the_router_would() -> None:
    app, reached = _hot_app()
    assert _ask(app, "GET", "/api/v1/shops/s1/items/42") == (200, b"item 42 of s1")
    assert reached == []  # the router never saw it
    assert _ask(app, "POST", "/api/v1/shops/s1/items/42")[0] == 405  # a method it does not take
    assert _ask(app, "GET", "/api/v1/shops/s1/items/42/more")[0] == 405  # no full match
    assert _ask(app, "GET", "/api/v1/shops/s1/items/42", root_path="/reco")[0] == 405
    assert reached == [("POST", "/api/v1/shops/s1/items/42"),
                       ("GET", "/api/v1/shops/s1/items/42/more"),
                       ("GET", "/api/v1/shops/s1/items/42")]


def test_a_redis_failure_in_a_hot_route_is_the_same_503(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = _hot_app()
    status, body = _ask(app, "GET", "/api/v1/shops/s1/items/broken")
    assert status == 503 and b"storage (Redis) is unavailable" in body
    assert "storage unavailable for GET /api/v1/shops/s1/items/broken" in caplog.text


def test_the_api_recommendation_calls_are_the_hot_routes(store: Store) -> None:
    app = create_app(settings_for(store, run_worker=False))
    given = next(m for m in app.user_middleware if m.cls is WebhookShortcut)
    hot = [route.path for route in given.kwargs["hot"]]
    assert hot == [f"/api/v1/shops/{{shop_id}}/recommendations/{name}" for name in (
        "products/{product_id}", "customers/{customer_id}", "cart", "trending")]
    assert WebhookShortcut(app, **given.kwargs).hot_prefix == "/api/v1/shops"
    assert WebhookShortcut(app).hot_prefix == ""  # no hot route: none matched


def test_the_lifespan_migrates_and_runs_the_worker_only_when_asked(fresh: Store) -> None:
    assert fresh.run(lambda r: r.smembers(keys.MIGRATIONS)) == set()
    shop_id = "app-" + uuid.uuid4().hex[:8]
    fresh.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                 "http://testserver"))
    web_only = replace(fresh.settings, run_worker=False)
    with LiveServer(web_only) as url:
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        assert fresh.run(lambda r: r.smembers(keys.MIGRATIONS)) == {
            m.name.encode() for m in MIGRATIONS}
        assert not fresh.run(worker_is_alive)  # a worker's sign of life is set as it starts
    body = body_of(order_payload(5, 1, [1]))
    fresh.run(lambda r: append(r, shop_id, Event("shopify", "orders/create", "a-1", body)))
    with LiveServer(fresh.settings):  # SHOPRECO_RUN_WORKER's default: true
        eventually(lambda: _stored(fresh, shop_id))  # ingested by the app's worker
        assert fresh.run(worker_is_alive)
    assert not fresh.run(worker_is_alive)  # stopped with the app


def _stored(store: Store, shop_id: str) -> None:
    assert store.run(lambda r: r.hlen(keys.orders(shop_id))) == 1
