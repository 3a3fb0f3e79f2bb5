"""plugin.connect.woocommerce over real HTTP: our live server, the fake WooCommerce
(plugin.demo.fake_woocommerce) and the owner's browser, step by step (what every connect does
is also checked by the shared suite, test_connectors.py)."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis.asyncio as aioredis

from plugin.connect import common, woocommerce
from plugin.connect.woocommerce_store import TOPICS
from plugin.store import keys, sealing
from plugin.store.connection import text
from plugin.store.shops import Shop, shop_by_domain, webhook_url
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import eventually
from tests.plugin.connect.woocommerce_case import Case, sign_in


@pytest.fixture(scope="module")
def case() -> Iterator[Case]:
    with Case() as started:
        yield started


@pytest.fixture(scope="module")
def ours(store: Store, case: Case) -> Iterator[str]:
    port = free_port()
    with LiveServer(settings_for(store, public_url=f"http://127.0.0.1:{port}"),
                    port=port) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def registered(store: Store, domain: str) -> Shop | None:
    return store.run(lambda r: shop_by_domain(r, "woocommerce", domain))


def shop_ids(store: Store) -> set[str]:
    return {text(m) for m in store.run(lambda r: r.smembers(keys.SHOPS))}


def imported(store: Store, shop_id: str) -> dict[str, str]:
    found = {text(k): text(v) for k, v in
             store.run(lambda r: r.hgetall(keys.connection(shop_id))).items()}
    assert found.get("stage") == "done", found
    return found


async def every_value(redis: aioredis.Redis) -> list[str]:
    """Every string, hash, list, set and sorted set value in Redis, as text."""
    found: list[str] = []
    async for key in redis.scan_iter(count=1000):
        kind = text(await redis.type(key))
        values: Any = []
        if kind == "string":
            values = [await redis.get(key)]
        elif kind == "hash":
            values = (await redis.hgetall(key)).values()
        elif kind == "list":
            values = await redis.lrange(key, 0, -1)
        elif kind == "set":
            values = await redis.smembers(key)
        elif kind == "zset":
            values = await redis.zrange(key, 0, -1)
        found += [text(value) for value in values if value is not None]
    return found


def connect(store: Store, case: Case, browser: httpx.Client, ours: str, orders: int = 3
            ) -> tuple[str, Shop, httpx.Response]:
    domain = case.new_store(orders)
    landing = case.connect(browser, ours, domain)
    assert landing.status_code == 200, landing.text
    shop = registered(store, domain)
    assert shop is not None
    return domain, shop, landing


def test_a_connect_registers_the_shop_with_its_keys_sealed(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    domain, shop, landing = connect(store, case, browser, ours, orders=4)
    name = case.names[domain]
    key, key_pair = next(iter(case.fake.stores[name].keys.items()))
    assert (shop.domain, shop.currency) == (domain, "EUR")
    assert shop.storefront_url == case.fake.store_url(name)
    assert shop.access.api_base == case.fake.store_url(name) + "/wp-json/wc/v3"
    assert shop.access.api_user == key
    assert shop.access.api_token.reveal() == key_pair.consumer_secret
    assert key_pair.permissions == "read_write"
    stored = text(store.run(lambda r: r.hget(keys.shop_config(shop.shop_id), "api_token"))
                  or b"")
    assert stored.startswith(sealing.SEALED)
    assert not [v for v in store.run(every_value) if key_pair.consumer_secret in v]
    assert "id='api-key'>sk_" in landing.text and "id='dashboard'" in landing.text
    assert f"id='widget-key'>{shop.widget_key}</code>" in landing.text
    code = re.search(r"id='connection-code'>([A-Za-z0-9_-]+)</code>", landing.text)
    assert code is not None
    assert json.loads(base64.urlsafe_b64decode(code[1] + "=" * (-len(code[1]) % 4))) == {
        "url": ours, "widget_key": shop.widget_key}  # what the WordPress plugin's settings take
    assert f"href='{woocommerce.PLUGIN_PATH}'" in landing.text
    assert landing.headers["cache-control"] == "no-store"
    done = eventually(lambda: imported(store, shop.shop_id), timeout=60)
    assert done["orders"] == "4"
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 4


def test_the_webhooks_deliver_to_us_signed_with_the_shops_secret(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    domain, shop, _ = connect(store, case, browser, ours, orders=1)
    hooks = case.hooks(domain)
    assert sorted(h["topic"] for h in hooks) == sorted(TOPICS)
    url = webhook_url(ours, "woocommerce", shop.shop_id)
    assert {(h["delivery_url"], h["secret"], h["status"]) for h in hooks} == {
        (url, shop.webhook_secrets[0].reveal(), "active")}
    record = store.run(lambda r: common.connection(r, shop.shop_id))
    assert sorted(h["topic"] for h in record["hooks"]) == sorted(TOPICS)
    assert {h["id"] for h in record["hooks"]} == {str(h["id"]) for h in hooks}
    eventually(lambda: imported(store, shop.shop_id), timeout=60)
    webhook = case.new_order(domain, ours)
    answer = browser.post(ours + webhook.path, content=webhook.body, headers=webhook.headers)
    assert answer.status_code == 200, answer.text
    eventually(lambda: _orders_are(store, shop.shop_id, 2), timeout=60)


def _orders_are(store: Store, shop_id: str, count: int) -> None:
    assert store.run(lambda r: r.hlen(keys.orders(shop_id))) == count


def test_a_callback_naming_no_request_of_ours_is_refused_and_stores_nothing(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    before = shop_ids(store)
    forged: dict[str, Any] = {
        "key_id": 1, "user_id": "made-up-" + "x" * 24, "consumer_key": "ck_" + "1" * 40,
        "consumer_secret": "cs_" + "2" * 40, "key_permissions": "read_write"}
    refused = browser.post(ours + woocommerce.CALLBACK_PATH, json=forged)
    assert refused.status_code == 403 and "unknown, expired or used" in refused.text
    assert forged["consumer_secret"] not in refused.text
    for body in (b"not json", b"[]", json.dumps({**forged, "consumer_key": 5}).encode()):
        assert browser.post(ours + woocommerce.CALLBACK_PATH, content=body).status_code == 400
    _, shop, _ = connect(store, case, browser, ours, orders=0)
    again = case.replay(browser, ours)
    assert again.status_code == 403
    assert shop_ids(store) == before | {shop.shop_id}


def start(case: Case, browser: httpx.Client, ours: str, domain: str) -> dict[str, str]:
    """Our start step for the store: the authorize URL's query."""
    started = browser.post(ours + woocommerce.BASE,
                           data={"store": case.fake.store_url(case.names[domain])})
    assert started.status_code == 303, started.text
    return {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}


def test_the_authorize_request_asks_for_read_write_and_calls_back_to_us(
        case: Case, ours: str, browser: httpx.Client) -> None:
    domain = case.new_store(0)
    asked = start(case, browser, ours, domain)
    assert asked["app_name"] == "shopreco" and asked["scope"] == "read_write"
    assert asked["callback_url"] == ours + woocommerce.CALLBACK_PATH
    assert asked["return_url"] == ours + woocommerce.RETURN_PATH
    assert len(asked["user_id"]) >= 32
    cookie = browser.cookies.get(woocommerce.COOKIE)
    assert cookie is not None and asked["user_id"] != cookie


def test_keys_with_less_access_or_refused_by_the_store_store_nothing(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    before = shop_ids(store)
    domain = case.new_store(0)
    for permissions, secret, why in (("read", "cs_" + "3" * 40, "needs 'read_write'"),
                                     ("read_write", "cs_" + "4" * 40, "refused the keys")):
        nonce = start(case, browser, ours, domain)["user_id"]
        answer = browser.post(ours + woocommerce.CALLBACK_PATH, json={
            "key_id": 9, "user_id": nonce, "consumer_key": "ck_" + "5" * 40,
            "consumer_secret": secret, "key_permissions": permissions})
        assert answer.status_code == 400 and why in answer.text, answer.text
        assert secret not in answer.text
        back = browser.get(ours + woocommerce.RETURN_PATH,
                           params={"success": "1", "user_id": nonce})
        assert back.status_code == 404  # the request was spent, nothing connected
    assert shop_ids(store) == before
    assert case.hooks(domain) == []


def test_declining_on_the_store_connects_nothing(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    before = shop_ids(store)
    domain = case.new_store(0)
    deny = re.search(r'id="deny" href="([^"]+)"', case.consent(browser, ours, domain))
    assert deny is not None
    target = deny[1].replace("&amp;", "&")
    declined = browser.get(target)
    assert declined.status_code == 200 and "declined" in declined.text
    nonce = parse_qs(urlsplit(target).query)["user_id"][0]
    late = browser.post(ours + woocommerce.CALLBACK_PATH, json={
        "key_id": 1, "user_id": nonce, "consumer_key": "ck_" + "6" * 40,
        "consumer_secret": "cs_" + "7" * 40, "key_permissions": "read_write"})
    assert late.status_code == 403  # a declined request is spent
    assert shop_ids(store) == before


def test_a_return_whose_keys_never_arrived_says_so(
        case: Case, ours: str, browser: httpx.Client) -> None:
    nonce = start(case, browser, ours, case.new_store(0))["user_id"]
    back = browser.get(ours + woocommerce.RETURN_PATH, params={"success": "1", "user_id": nonce})
    assert back.status_code == 409 and "never reached shopreco" in back.text
    unknown = browser.get(ours + woocommerce.RETURN_PATH,
                          params={"success": "1", "user_id": "nothing-we-started"})
    assert unknown.status_code == 404
    incomplete = browser.get(ours + woocommerce.RETURN_PATH, params={"user_id": nonce})
    assert incomplete.status_code == 400 and "incomplete" in incomplete.text


def test_the_landing_page_shows_once_and_only_in_the_browser_that_started(
        case: Case, ours: str, browser: httpx.Client) -> None:
    domain = case.new_store(0)
    approve = re.search(r'id="approve" href="([^"]+)"', case.consent(browser, ours, domain))
    assert approve is not None
    back = browser.get(approve[1].replace("&amp;", "&"))
    assert back.status_code == 302
    with httpx.Client(timeout=30) as stranger:
        elsewhere = stranger.get(back.headers["location"])
    assert elsewhere.status_code == 403 and "another browser" in elsewhere.text
    assert "sk_" not in elsewhere.text
    assert browser.get(back.headers["location"]).status_code == 200
    assert browser.get(back.headers["location"]).status_code == 404


def test_connecting_again_keeps_the_shop_repairs_its_webhooks_and_takes_the_new_keys(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    domain, shop, _ = connect(store, case, browser, ours, orders=1)
    fake_store = case.fake.stores[case.names[domain]]
    first = {h["topic"]: h["id"] for h in case.hooks(domain)}
    paused = first["order.created"]
    fake_store.webhooks[paused]["status"] = "disabled"  # after five failed deliveries
    copy = {**fake_store.webhooks[first["product.updated"]], "id": 99_999}
    fake_store.webhooks[99_999] = copy  # a duplicate from an interrupted attempt
    landing = case.connect(browser, ours, domain)
    assert landing.status_code == 200 and "Connected again" in landing.text
    assert "api-key" not in landing.text
    again = registered(store, domain)
    assert again is not None and again.shop_id == shop.shop_id
    newest = list(fake_store.keys)[-1]
    assert again.access.api_user == newest != shop.access.api_user
    assert again.access.api_token.reveal() == fake_store.keys[newest].consumer_secret
    assert {h["topic"]: h["id"] for h in case.hooks(domain)} == first
    assert {h["status"] for h in case.hooks(domain)} == {"active"}
    assert {h["secret"] for h in case.hooks(domain)} == {shop.webhook_secrets[0].reveal()}


def test_the_connection_page_shows_live_webhooks_and_disconnect_removes_them(
        store: Store, case: Case, ours: str, browser: httpx.Client) -> None:
    domain, _, _ = connect(store, case, browser, ours, orders=0)
    fake_store = case.fake.stores[case.names[domain]]
    paused = next(h for h in fake_store.webhooks.values() if h["topic"] == "order.deleted")
    paused["status"] = "paused"
    csrf = sign_in(browser, ours, case.dashboard[domain])
    page = browser.get(ours + "/admin/connection").text
    rows = dict(re.findall(r'<th scope="row">([a-z.]+)</th><td>([a-z ]+)</td>', page))
    assert rows == {**{topic: "live" for topic in TOPICS}, "order.deleted": "not active"}
    done = browser.post(ours + "/admin/connection/disconnect", data={"csrf": csrf})
    assert done.status_code == 303
    assert fake_store.webhooks == {}
    after = registered(store, domain)
    assert after is not None and after.uninstalled_at is not None
    assert not after.access.api_token


def test_a_store_address_that_is_not_one_is_refused_on_a_page(
        ours: str, browser: httpx.Client) -> None:
    for typed in ("javascript:alert(1)", "", "https://shop.example/?page=1"):
        refused = browser.post(ours + woocommerce.BASE, data={"store": typed})
        assert refused.status_code == 400 and "<h1>That store address" in refused.text
        assert "text/html" in refused.headers["content-type"]


def test_the_wordpress_plugin_is_offered_as_a_zip(
        ours: str, browser: httpx.Client, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(woocommerce, "WORDPRESS_PLUGIN", tmp_path / "missing")
    assert browser.get(ours + woocommerce.PLUGIN_PATH).status_code == 404
    folder = tmp_path / "shopreco"
    (folder / "assets").mkdir(parents=True)
    (folder / "shopreco.php").write_text("<?php /* Plugin Name: shopreco */")
    (folder / "assets" / "widget.js").write_text("// widgets")
    (folder / ".DS_Store").write_text("")
    monkeypatch.setattr(woocommerce, "WORDPRESS_PLUGIN", folder)
    answer = browser.get(ours + woocommerce.PLUGIN_PATH)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
    assert sorted(names) == ["shopreco/assets/widget.js", "shopreco/shopreco.php"]


def test_the_zip_holds_the_wordpress_plugin_this_shopreco_ships(
        ours: str, browser: httpx.Client) -> None:
    answer = browser.get(ours + woocommerce.PLUGIN_PATH)
    assert answer.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
    assert {"shopreco/shopreco.php", "shopreco/readme.txt"} <= set(names)
    assert answer.headers["content-disposition"] == 'attachment; filename="shopreco.zip"'


def test_no_key_appears_in_answers_or_logs(
        store: Store, case: Case, ours: str, browser: httpx.Client,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, shop, landing = connect(store, case, browser, ours, orders=2)
    eventually(lambda: imported(store, shop.shop_id), timeout=60)
    answers: list[Any] = [landing.text, case.replay(browser, ours).text]
    for secret in case.issued_secrets():
        for where in (*answers, caplog.text):
            assert secret not in where
