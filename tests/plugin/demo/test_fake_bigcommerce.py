"""The local stand-in for BigCommerce (plugin.demo.fake_bigcommerce) over real HTTP, held to the
contracts it follows: the consent page's redirect, codes that work once, the token answer,
store API calls that need the app's token, V2 pages that end in 204, the hooks and scripts
APIs with BigCommerce's rules, signed payloads as documented, what an uninstall removes, and
webhooks signed the Standard Webhooks way with the client secret."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from plugin.config import Secret
from plugin.demo.fake_bigcommerce import APP_SCOPES, FakeBigCommerce
from tests.plugin.shopify.conftest import AppServer
from webhooks import bigcommerce

CLIENT_ID, SECRET = "fakebctestclient", "fake_bc_secret_" + "9f8e7d6c5b4a3f2e" * 3
AUTH = "https://app.example/connect/bigcommerce/auth"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBigCommerce]:
    bigcommerce_fake = FakeBigCommerce(CLIENT_ID, SECRET)
    with AppServer(bigcommerce_fake.app) as url:
        bigcommerce_fake.base_url = url
        bigcommerce_fake.callbacks = {name: f"https://app.example/{name}" for name in (
            "load", "uninstall", "remove_user")} | {"auth": AUTH}
        yield bigcommerce_fake


@pytest.fixture
def client(fake: FakeBigCommerce) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=30) as http:
        yield http


def approve(client: httpx.Client, store_hash: str) -> dict[str, str]:
    """The consent page's Install link: the auth callback's query."""
    page = client.get(f"/app/{CLIENT_ID}/install", params={"store": store_hash})
    found = re.search(r'id="approve" href="([^"]+)"', page.text)
    assert page.status_code == 200 and found is not None
    target = urlsplit(html.unescape(found[1]))
    assert f"{target.scheme}://{target.netloc}{target.path}" == AUTH
    return dict(parse_qsl(target.query))


def token_form(query: dict[str, str], **changes: str) -> dict[str, str]:
    return {"client_id": CLIENT_ID, "client_secret": SECRET, "code": query["code"],
            "scope": query["scope"], "context": query["context"],
            "grant_type": "authorization_code", "redirect_uri": AUTH, **changes}


def installed(fake: FakeBigCommerce, client: httpx.Client, orders: int = 0) -> tuple[str, str]:
    store_hash = fake.add_store(orders)
    answer = client.post("/oauth2/token", json=token_form(approve(client, store_hash)))
    assert answer.status_code == 200, answer.text
    return store_hash, answer.json()["access_token"]


def api(client: httpx.Client, token: str, method: str, store_hash: str, path: str,
        **kwargs: Any) -> httpx.Response:
    return client.request(method, f"/stores/{store_hash}{path}", headers={
        "X-Auth-Token": token, "Accept": "application/json"}, **kwargs)


def test_the_consent_page_sends_the_owner_to_the_auth_callback(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash = fake.add_store()
    query = approve(client, store_hash)
    assert (query["context"], query["scope"], query["account_uuid"]) == (
        f"stores/{store_hash}", APP_SCOPES, fake.account_uuid)
    assert client.get("/app/other-app/install", params={"store": store_hash}).status_code == 404
    assert client.get(f"/app/{CLIENT_ID}/install", params={"store": "nope"}).status_code == 404


def test_a_code_becomes_a_token_once_for_the_app_and_its_callback(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash = fake.add_store()
    query = approve(client, store_hash)
    assert client.post("/oauth2/token", json=token_form(
        query, client_secret="wrong")).status_code == 401
    assert client.post("/oauth2/token", json=token_form(
        query, redirect_uri="https://evil.example/auth")).status_code == 400
    query = approve(client, store_hash)
    answer = client.post("/oauth2/token", data=token_form(query))  # a form body works too
    assert answer.status_code == 200
    body = answer.json()
    assert (body["scope"], body["context"], body["user"]["email"]) == (
        APP_SCOPES, f"stores/{store_hash}", fake.stores[store_hash].owner["email"])
    assert body["access_token"] in fake.issued
    assert client.post("/oauth2/token", json=token_form(query)).status_code == 400  # once


def test_the_store_api_needs_the_apps_current_token(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash, first = installed(fake, client)
    assert api(client, first, "GET", store_hash, "/v2/store").json()["currency"] == "EUR"
    other, _ = installed(fake, client)
    assert api(client, first, "GET", other, "/v2/store").status_code == 401
    answer = client.post("/oauth2/token", json=token_form(approve(client, store_hash)))
    second = answer.json()["access_token"]
    assert api(client, first, "GET", store_hash, "/v2/store").status_code == 401  # replaced
    assert api(client, second, "GET", store_hash, "/v2/store").status_code == 200
    assert client.get(f"/stores/{store_hash}/v2/store").status_code == 401


def test_orders_come_in_v2_pages_that_end_with_204_and_parse(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash, token = installed(fake, client, orders=5)
    pages = [api(client, token, "GET", store_hash, "/v2/orders",
                 params={"page": page, "limit": 2, "sort": "id:asc"}) for page in (1, 2, 3, 4)]
    assert [p.status_code for p in pages] == [200, 200, 200, 204]
    orders = [o for p in pages[:3] for o in p.json()]
    assert [o["id"] for o in orders] == sorted(o["id"] for o in orders) and len(orders) == 5
    lines = api(client, token, "GET", store_hash, f"/v2/orders/{orders[0]['id']}/products")
    parsed = bigcommerce.parse_order(orders[0], lines.json(), "USD")
    assert parsed.currency == "EUR" and not parsed.cancelled and len(parsed.lines) == 2
    product = api(client, token, "GET", store_hash, "/v3/catalog/products/1",
                  params={"include": "images"}).json()
    assert bigcommerce.parse_product(product, "https://shop.example")["url"] == (
        "https://shop.example/product-1/")
    assert api(client, token, "GET", store_hash, "/v2/orders/1").status_code == 404


def test_hooks_are_created_listed_changed_and_deleted(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash, token = installed(fake, client)
    assert api(client, token, "POST", store_hash, "/v3/hooks",
               json={"scope": "store/order/created"}).status_code == 422
    made = api(client, token, "POST", store_hash, "/v3/hooks", json={
        "scope": "store/order/created", "destination": "https://app.example/hooks/1"}).json()
    hook_id = made["data"]["id"]
    assert made["data"]["is_active"] is True and made["data"]["client_id"] == CLIENT_ID
    api(client, token, "POST", store_hash, "/v3/hooks", json={
        "scope": "store/product/updated", "destination": "https://app.example/hooks/2"})
    mine = api(client, token, "GET", store_hash, "/v3/hooks",
               params={"destination": "https://app.example/hooks/1"}).json()
    assert [h["id"] for h in mine["data"]] == [hook_id]
    assert mine["meta"]["pagination"]["total"] == 1
    changed = api(client, token, "PUT", store_hash, f"/v3/hooks/{hook_id}",
                  json={"is_active": False}).json()
    assert changed["data"]["is_active"] is False
    assert api(client, token, "DELETE", store_hash, f"/v3/hooks/{hook_id}").status_code == 200
    assert api(client, token, "GET", store_hash, f"/v3/hooks/{hook_id}").status_code == 404


def script(**changes: Any) -> dict[str, Any]:
    return {"name": "widgets", "kind": "script_tag", "html": "<script src='x.js'></script>",
            "load_method": "default", "location": "footer", "visibility": "storefront",
            "auto_uninstall": True, "consent_category": "analytics", **changes}


def test_scripts_follow_the_scripts_api_rules(fake: FakeBigCommerce,
                                              client: httpx.Client) -> None:
    store_hash, token = installed(fake, client)
    for bad in (script(load_method="defer"), script(name=""), script(kind="src"),
                script(html="<script></script><script></script>"), script(visibility="x")):
        assert api(client, token, "POST", store_hash, "/v3/content/scripts",
                   json=bad).status_code == 422, bad
    made = api(client, token, "POST", store_hash, "/v3/content/scripts", json=script()).json()
    uuid = made["data"]["uuid"]
    assert made["data"]["api_client_id"] == CLIENT_ID
    src = {**script(kind="src", src="https://cdn.example/x.js", load_method="defer"),
           "html": ""}
    assert api(client, token, "POST", store_hash, "/v3/content/scripts",
               json=src).status_code == 200
    for n in range(8):
        api(client, token, "POST", store_hash, "/v3/content/scripts", json=script(name=f"s{n}"))
    assert api(client, token, "POST", store_hash, "/v3/content/scripts",
               json=script()).status_code == 422  # ten per app
    assert api(client, token, "PUT", store_hash, f"/v3/content/scripts/{uuid}",
               json={"location": "head"}).json()["data"]["location"] == "head"
    assert api(client, token, "DELETE", store_hash,
               f"/v3/content/scripts/{uuid}").status_code == 204
    listed = api(client, token, "GET", store_hash, "/v3/content/scripts").json()
    assert uuid not in {s["uuid"] for s in listed["data"]} and len(listed["data"]) == 9


def test_signed_payloads_carry_the_documented_claims(fake: FakeBigCommerce) -> None:
    store_hash = fake.add_store()
    url = urlsplit(fake.callback_url("load", store_hash))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://app.example/load"
    token = dict(parse_qsl(url.query))["signed_payload_jwt"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=CLIENT_ID, issuer="bc")
    assert claims["sub"] == f"stores/{store_hash}" and claims["exp"] - claims["iat"] == 86400
    assert claims["owner"] == fake.stores[store_hash].owner and claims["url"] == "/"
    assert {"jti", "nbf", "user"} <= set(claims)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(fake.signed_payload(store_hash, secret="x" * 40), SECRET,
                   algorithms=["HS256"], audience=CLIENT_ID)


def test_an_uninstall_removes_the_apps_hooks_and_scripts_and_revokes_its_token(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash, token = installed(fake, client)
    api(client, token, "POST", store_hash, "/v3/hooks", json={
        "scope": "store/order/created", "destination": "https://app.example/h"})
    api(client, token, "POST", store_hash, "/v3/content/scripts", json=script())
    kept = api(client, token, "POST", store_hash, "/v3/content/scripts",
               json=script(name="stays", auto_uninstall=False)).json()["data"]["uuid"]
    callback = fake.uninstall(store_hash)
    assert callback.startswith("https://app.example/uninstall?signed_payload_jwt=")
    assert fake.stores[store_hash].hooks == {}
    assert list(fake.stores[store_hash].scripts) == [kept]
    assert api(client, token, "GET", store_hash, "/v3/hooks").status_code == 401


def test_a_webhook_is_sent_by_an_active_hook_signed_with_the_client_secret(
        fake: FakeBigCommerce, client: httpx.Client) -> None:
    store_hash, token = installed(fake, client)
    order_id = fake.add_order(store_hash)
    assert fake.delivery(store_hash, "store/order/created", order_id) is None  # no hook yet
    api(client, token, "POST", store_hash, "/v3/hooks", json={
        "scope": "store/order/created", "destination": "https://app.example/webhooks/x"})
    sent = fake.delivery(store_hash, "store/order/created", order_id)
    assert sent is not None and sent.url == "https://app.example/webhooks/x"
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert bigcommerce.verify((Secret(SECRET),), headers, sent.body)
    assert not bigcommerce.verify((Secret("y" * 40),), headers, sent.body)
    payload = json.loads(sent.body)
    assert (payload["scope"], payload["data"], payload["producer"]) == (
        "store/order/created", {"type": "order", "id": order_id}, f"stores/{store_hash}")
    bigcommerce.check_event(payload)
