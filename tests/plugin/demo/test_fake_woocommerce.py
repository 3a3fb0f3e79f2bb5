"""The local stand-in for WooCommerce (plugin.demo.fake_woocommerce) over real HTTP, held to the
contracts it follows: WC_Auth's consent, key POST and redirects, the REST API's basic auth and
key permissions, WordPress paging headers, the webhooks controller (ping on create, write-only
secret, no trashing, batch) and signed deliveries the adapter accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.config import Secret
from plugin.demo.fake_woocommerce import FakeStore, FakeWooCommerce, Key
from tests.plugin.shopify.conftest import AppServer
from webhooks import woocommerce
from webhooks.signatures import verify_base64_hmac


class Receiver:
    """Our side, as the fake sees it: records each POST; /fail answers 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []  # (path, content type, body)
        self.app = Starlette(routes=[Route("/{path:path}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        self.posts.append((request.url.path, request.headers.get("content-type", ""),
                           await request.body()))
        return Response(status_code=500 if request.url.path == "/fail" else 200)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    ours = Receiver()
    with AppServer(ours.app) as url:
        yield ours, url


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWooCommerce]:
    woo = FakeWooCommerce(https_callbacks_only=False)
    with AppServer(woo.app) as url:
        woo.base_url = url
        yield woo


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def authorize(fake: FakeWooCommerce, store: FakeStore, **params: str) -> str:
    return f"{fake.store_url(store.name)}/wc-auth/v1/authorize?{urlencode(params)}"


def asking(url: str, scope: str = "read_write") -> dict[str, str]:
    return {"app_name": "shopreco", "scope": scope, "user_id": "u1",
            "return_url": url + "/back?from=store", "callback_url": url + "/callback"}


def link(page: str, name: str) -> str:
    start = page.index(f'id="{name}" href="') + len(f'id="{name}" href="')
    return page[start:page.index('"', start)].replace("&amp;", "&")


def test_the_consent_page_names_the_app_and_the_access_it_asks_for(
        fake: FakeWooCommerce, client: httpx.Client) -> None:
    store = fake.new_store()
    page = client.get(authorize(fake, store, **asking("https://reco.example")))
    assert page.status_code == 200
    assert "shopreco" in page.text and "<strong>Read/Write</strong>" in page.text
    assert "/wc-auth/v1/access_granted?" in link(page.text, "approve")
    assert link(page.text, "deny") == "https://reco.example/back?from=store&success=0&user_id=u1"


@pytest.mark.parametrize(("change", "error"), [
    ({"user_id": ""}, "Missing parameter user_id"), ({"scope": "admin"}, "Invalid scope admin"),
    ({"return_url": "ftp://x"}, "is not a valid URL"),
])
def test_a_bad_authorization_request_is_refused(
        fake: FakeWooCommerce, client: httpx.Client, change: dict[str, str], error: str) -> None:
    page = client.get(authorize(fake, fake.new_store(), **{**asking("https://reco.example"),
                                                           **change}))
    assert page.status_code == 401 and error in page.text


def test_the_real_rule_wants_an_https_callback(client: httpx.Client) -> None:
    strict = FakeWooCommerce()
    with AppServer(strict.app) as url:
        strict.base_url = url
        page = client.get(authorize(strict, strict.new_store(), **asking("http://reco.example")))
    assert page.status_code == 401 and "callback_url needs to be over SSL" in page.text


def test_approving_posts_the_keys_then_sends_the_owner_back_once(
        fake: FakeWooCommerce, receiver: tuple[Receiver, str], client: httpx.Client) -> None:
    ours, url = receiver
    store = fake.new_store()
    approve = link(client.get(authorize(fake, store, **asking(url))).text, "approve")
    back = client.get(approve)
    assert back.status_code == 302
    assert back.headers["location"] == f"{url}/back?from=store&success=1&user_id=u1"
    path, kind, body = ours.posts[-1]
    sent = json.loads(body)
    assert (path, kind) == ("/callback", "application/json;charset=UTF-8")
    assert sorted(sent) == ["consumer_key", "consumer_secret", "key_id", "key_permissions",
                            "user_id"]
    assert sent["user_id"] == "u1" and sent["key_permissions"] == "read_write"
    assert sent["consumer_key"].startswith("ck_") and sent["consumer_secret"].startswith("cs_")
    assert store.keys[sent["consumer_key"]].consumer_secret == sent["consumer_secret"]
    assert {sent["consumer_key"], sent["consumer_secret"]} <= set(fake.issued)
    assert fake.callbacks[-1] == (url + "/callback", body)
    again = client.get(approve)
    assert again.status_code == 401 and "Invalid nonce" in again.text


def test_keys_our_callback_does_not_take_are_deleted(
        fake: FakeWooCommerce, receiver: tuple[Receiver, str], client: httpx.Client) -> None:
    _, url = receiver
    store = fake.new_store()
    params = {**asking(url), "callback_url": url + "/fail"}
    failed = client.get(link(client.get(authorize(fake, store, **params)).text, "approve"))
    assert failed.status_code == 401 and "unable to send the consumer data" in failed.text
    assert store.keys == {}


def rest(client: httpx.Client, fake: FakeWooCommerce, store: FakeStore, method: str,
         path: str, key: tuple[str, str] | None = ("ck_rw", "cs_rw"), **kwargs: Any
         ) -> httpx.Response:
    return client.request(method, f"{fake.store_url(store.name)}/wp-json/wc/v3/{path}",
                          auth=key, **kwargs)


@pytest.fixture
def store(fake: FakeWooCommerce) -> FakeStore:
    made = fake.new_store(orders=25, currency="GBP")
    made.keys.update({"ck_rw": Key(1, "cs_rw", "read_write"), "ck_r": Key(2, "cs_r", "read"),
                      "ck_w": Key(3, "cs_w", "write")})
    return made


def test_the_rest_api_needs_the_key_pair_and_its_permission(
        fake: FakeWooCommerce, store: FakeStore, client: httpx.Client) -> None:
    assert rest(client, fake, store, "GET", "orders", key=None).status_code == 401
    assert rest(client, fake, store, "GET", "orders", key=("ck_rw", "cs_r")).status_code == 401
    read_only = rest(client, fake, store, "POST", "webhooks", key=("ck_r", "cs_r"), json={})
    assert read_only.status_code == 401
    assert read_only.json()["message"] == "The API key provided does not have write permissions."
    assert rest(client, fake, store, "GET", "orders", key=("ck_w", "cs_w")).status_code == 401
    assert rest(client, fake, store, "GET", "orders", key=("ck_r", "cs_r")).status_code == 200


def test_orders_come_in_pages_with_wordpress_paging_headers(
        fake: FakeWooCommerce, store: FakeStore, client: httpx.Client) -> None:
    last = rest(client, fake, store, "GET", "orders",
                params={"per_page": 10, "page": 3, "orderby": "id", "order": "asc"})
    assert (last.headers["x-wp-total"], last.headers["x-wp-totalpages"]) == ("25", "3")
    assert [o["id"] for o in last.json()] == list(range(1020, 1025))
    assert rest(client, fake, store, "GET", "orders", params={"per_page": 101}).status_code == 400
    orders = rest(client, fake, store, "GET", "orders", params={"per_page": 100}).json()
    assert all(woocommerce.parse_order(o).currency == "GBP" for o in orders)
    products = rest(client, fake, store, "GET", "products", params={"per_page": 100}).json()
    assert all(woocommerce.parse_product(p)["available"] for p in products)
    setting = rest(client, fake, store, "GET", "settings/general/woocommerce_currency").json()
    assert setting["value"] == "GBP"


def test_webhooks_are_created_with_a_ping_updated_and_deleted_only_for_good(
        fake: FakeWooCommerce, store: FakeStore, receiver: tuple[Receiver, str],
        client: httpx.Client) -> None:
    ours, url = receiver
    made = rest(client, fake, store, "POST", "webhooks", json={
        "name": "n", "topic": "order.created", "delivery_url": url + "/hook", "secret": "s3"})
    assert made.status_code == 201 and "secret" not in made.json()
    hook_id = made.json()["id"]
    assert ours.posts[-1] == ("/hook", "application/x-www-form-urlencoded",
                              f"webhook_id={hook_id}".encode())
    assert store.pings == [(hook_id, 200)] and store.webhooks[hook_id]["secret"] == "s3"
    bad = rest(client, fake, store, "POST", "webhooks", json={"topic": "order.exploded",
                                                                "delivery_url": url})
    assert bad.status_code == 400
    paused = rest(client, fake, store, "PUT", f"webhooks/{hook_id}", json={"status": "paused"})
    assert paused.json()["status"] == "paused"
    assert rest(client, fake, store, "PUT", f"webhooks/{hook_id}",
                json={"status": "asleep"}).status_code == 400
    assert rest(client, fake, store, "GET", "webhooks").json()[0]["id"] == hook_id
    assert rest(client, fake, store, "DELETE", f"webhooks/{hook_id}").status_code == 501
    assert rest(client, fake, store, "DELETE", f"webhooks/{hook_id}",
                params={"force": "true"}).status_code == 200
    assert rest(client, fake, store, "GET", f"webhooks/{hook_id}").status_code == 404


def test_a_batch_applies_each_item_and_reports_errors_in_place(
        fake: FakeWooCommerce, store: FakeStore, client: httpx.Client) -> None:
    done = rest(client, fake, store, "POST", "webhooks/batch", json={
        "create": [{"topic": "product.updated", "delivery_url": "http://127.0.0.1:9/h"},
                   {"topic": "nope", "delivery_url": "http://127.0.0.1:9/h"}],
        "update": [{"id": 777_777, "status": "active"}], "delete": [777_778]}).json()
    assert done["create"][0]["topic"] == "product.updated"
    assert done["create"][1]["error"]["code"] == "woocommerce_rest_shop_webhook_invalid_topic"
    assert done["update"][0]["id"] == 777_777 and "error" in done["update"][0]
    assert done["delete"][0]["error"]["data"]["status"] == 404
    assert [h["topic"] for h in store.webhooks.values()] == ["product.updated"]


def test_a_new_order_is_delivered_signed_to_each_active_order_created_webhook(
        fake: FakeWooCommerce, store: FakeStore, client: httpx.Client) -> None:
    for topic, secret, status in (("order.created", "s1", "active"),
                                  ("order.created", "s2", "paused"),
                                  ("product.updated", "s3", "active")):
        hook = rest(client, fake, store, "POST", "webhooks", json={
            "topic": topic, "delivery_url": f"http://127.0.0.1:9/{secret}", "secret": secret})
        store.webhooks[hook.json()["id"]]["status"] = status
    placed, deliveries = fake.new_order(store.name)
    assert placed in store.orders and len(deliveries) == 1
    delivery = deliveries[0]
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    assert urlsplit(delivery.url).path == "/s1"
    assert (headers["x-wc-webhook-topic"], headers["x-wc-webhook-resource"],
            headers["x-wc-webhook-event"]) == ("order.created", "order", "created")
    assert headers["x-wc-webhook-source"] == fake.store_url(store.name) + "/"
    assert verify_base64_hmac((Secret("s1"),), delivery.body, headers["x-wc-webhook-signature"])
    assert woocommerce.topic_of(headers) == "order.created"
    assert woocommerce.parse_order(json.loads(delivery.body)).order_id == str(placed["id"])
