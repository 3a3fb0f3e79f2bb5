"""Ecwid's one-click connect (plugin.connect.ecwid) over real HTTP against the local fake Ecwid:
the consent dialog and its refusals, the sealed token, the public app config, the import, the
app-level webhooks, the storefront script in a real Chromium, the Connection page, Disconnect
and Ecwid's application.uninstalled. The shared suite (test_connectors.py) runs the same case
through what every platform must do."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from plugin.config import Secret
from plugin.connect import common, ecwid
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import Shop, shop_by_domain
from tests.browser import VIEWPORT, PageWatch, browser  # noqa: F401
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import eventually
from tests.plugin.connect.ecwid_case import CLIENT_ID, SECRET, Case, sign_in

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def case() -> Iterator[Case]:
    with Case() as started:
        yield started


@pytest.fixture(scope="module")
def ours(store: Store, case: Case) -> Iterator[str]:
    port = free_port()
    settings = settings_for(store, public_url=f"http://127.0.0.1:{port}", **case.settings())
    with LiveServer(settings, port=port) as url:
        yield url


@pytest.fixture
def browse() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def shop_of(store: Store, store_id: str) -> Shop | None:
    return store.run(lambda r: shop_by_domain(r, "ecwid", store_id))


def connected(store: Store, case: Case, ours: str, client: httpx.Client, orders: int = 2
              ) -> tuple[str, Shop, httpx.Response]:
    store_id = case.new_store(orders)
    landing = case.connect(client, ours, store_id)
    assert landing.status_code == 200, landing.text
    shop = shop_of(store, store_id)
    assert shop is not None
    return store_id, shop, landing


def imported(store: Store, shop_id: str) -> dict[str, Any]:
    found = store.run(lambda r: common.connection(r, shop_id))
    assert found.get("stage") == "done", found
    return found


def values_holding(store: Store, needle: str) -> list[str]:
    """Every key of the test Redis one of whose values contains `needle`."""
    async def scan(redis: Any) -> list[str]:
        found = []
        async for key in redis.scan_iter(count=1000):
            kind = text(await redis.type(key))
            values: list[Any] = (
                [await redis.get(key)] if kind == "string" else
                [v for pair in (await redis.hgetall(key)).items() for v in pair]
                if kind == "hash" else await redis.lrange(key, 0, -1) if kind == "list" else
                list(await redis.smembers(key)) if kind == "set" else
                await redis.zrange(key, 0, -1) if kind == "zset" else
                [v for _, fields in await redis.xrange(key) for pair in fields.items()
                 for v in pair] if kind == "stream" else [])
            if any(needle.encode() in (v if isinstance(v, bytes) else str(v).encode())
                   for v in values if v is not None):
                found.append(text(key))
        return found

    return store.run(scan)


def callback(ours: str, **params: str) -> str:
    return ours + ecwid.CALLBACK_PATH + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def test_the_card_starts_the_flow_and_lists_the_apps_registration(ours, browse) -> None:
    page = browse.get(ours + "/connect")
    assert f"href='{ecwid.START_PATH}'" in page.text
    for fact in (ours + "/connect/ecwid/callback", ours + "/webhooks/ecwid",
                 ours + "/connect/ecwid/storefront.js", " ".join(ecwid.SCOPES),
                 " ".join(ecwid.EVENTS)):
        assert f"<code>{fact}</code>" in page.text


def test_without_the_apps_credentials_it_says_what_to_set(store: Store) -> None:
    with LiveServer(settings_for(store, ecwid_client_id="")) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        card = client.get("/connect").text
        assert "SHOPRECO_ECWID_CLIENT_ID" in card and ecwid.START_PATH not in card
        start = client.get(ecwid.START_PATH)
        assert start.status_code == 404 and "SHOPRECO_ECWID_CLIENT_SECRET" in start.text
        assert client.get(ecwid.STOREFRONT_JS_PATH).status_code == 404


def test_start_sends_the_owner_to_ecwids_dialog_with_a_single_use_state(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    started = browse.get(ours + ecwid.START_PATH)
    assert started.status_code == 302
    target = urlsplit(started.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == \
        case.fake.base_url + "/api/oauth/authorize"
    query = dict(parse_qsl(target.query))
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == ours + ecwid.CALLBACK_PATH
    assert query["scope"].split() == list(ecwid.SCOPES)
    digest = hashlib.sha256(query["state"].encode()).hexdigest()
    assert store.run(lambda r: r.ttl(keys.connect_pending("ecwid", digest))) > 0


def test_a_connect_seals_the_token_configures_the_storefront_and_imports_the_history(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id, shop, landing = connected(store, case, ours, browse, orders=5)
    assert "<code id='api-key'>sk_" in landing.text and "Connected: Ecwid" in landing.text
    token = shop.access.api_token.reveal()
    assert token in case.fake.issued and shop.access.store_ref == store_id
    assert values_holding(store, token) == []  # sealed wherever it is kept
    assert shop.webhook_secrets[0].reveal() == SECRET  # Ecwid signs with the client secret
    fake_store = case.fake.stores[int(store_id)]
    assert json.loads(fake_store.storage["public"]) == {"base_url": ours,
                                                        "widget_key": shop.widget_key}
    assert shop.currency == "EUR" and shop.storefront_url == f"{case.fake.base_url}/store/" \
        f"{store_id}" and case.fake.base_url in shop.origins
    done = eventually(lambda: imported(store, shop.shop_id), timeout=60)
    assert done["orders"] == "5" and store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 5
    assert done["hooks"] == [{"topic": t, "url": ours + "/webhooks/ecwid"} for t in ecwid.EVENTS]
    assert done["scripts"] == [{"src": ours + ecwid.STOREFRONT_JS_PATH}]
    webhook = case.new_order(store_id, ours)
    answer = browse.post(ours + webhook.path, content=webhook.body, headers=webhook.headers)
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    eventually(lambda: _orders_are(store, shop.shop_id, 6), timeout=60)


def _orders_are(store: Store, shop_id: str, expected: int) -> None:
    assert store.run(lambda r: r.hlen(keys.orders(shop_id))) == expected


def _nothing_happened(store: Store, case: Case, store_id: str, token_calls: int) -> None:
    assert shop_of(store, store_id) is None
    assert case.fake.token_calls == token_calls  # Ecwid was not even asked


@pytest.mark.parametrize("how", ["forged", "expired", "another platform's"])
def test_an_answer_to_no_connect_started_here_is_refused(
        store: Store, case: Case, ours: str, browse: httpx.Client, how: str) -> None:
    store_id = case.new_store(0)
    code = dict(parse_qsl(urlsplit(case.decide(browse, ours, store_id)).query))["code"]
    state = secrets.token_urlsafe(24)
    if how == "another platform's":
        state = store.run(lambda r: common.begin(r, "bigcommerce", {}))
    elif how == "expired":
        state = dict(parse_qsl(urlsplit(browse.get(ours + ecwid.START_PATH)
                                        .headers["location"]).query))["state"]
        key = keys.connect_pending("ecwid", hashlib.sha256(state.encode()).hexdigest())
        store.run(lambda r: r.pexpire(key, 1))
        time.sleep(0.05)
    calls = case.fake.token_calls
    refused = browse.get(callback(ours, code=code, state=state))
    assert refused.status_code == 400 and "start again" in refused.text
    _nothing_happened(store, case, store_id, calls)


def test_an_install_from_the_app_market_comes_without_a_state_and_connects(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id = case.new_store(2)
    code = dict(parse_qsl(urlsplit(case.decide(browse, ours, store_id)).query))["code"]
    landing = browse.get(callback(ours, code=code))  # as Ecwid redirects after its own dialog
    assert landing.status_code == 200 and "id='api-key'" in landing.text, landing.text
    assert shop_of(store, store_id) is not None
    again = browse.get(callback(ours, code=code))  # its code works once
    assert again.status_code == 400 and "used already" in again.text
    empty = browse.get(callback(ours, code=code, state=""))  # an empty state is no state
    assert empty.status_code == 400


def test_a_replayed_callback_is_refused(store: Store, case: Case, ours: str,
                                        browse: httpx.Client) -> None:
    _, shop, _ = connected(store, case, ours, browse)
    config = keys.shop_config(shop.shop_id)
    before = store.run(lambda r: r.hgetall(config))
    calls = case.fake.token_calls
    again = case.replay(browse, ours)
    assert again.status_code == 400 and case.fake.token_calls == calls
    assert store.run(lambda r: r.hgetall(config)) == before


def test_a_used_code_is_refused_without_asking_ecwid_again(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    """A second exchange would make Ecwid disable the token the code gave."""
    _, shop, _ = connected(store, case, ours, browse)
    code = dict(parse_qsl(urlsplit(case.last_callback).query))["code"]
    fresh = store.run(lambda r: common.begin(r, "ecwid", {}))
    calls = case.fake.token_calls
    refused = browse.get(callback(ours, code=code, state=fresh))
    assert refused.status_code == 400 and "used already" in refused.text
    assert case.fake.token_calls == calls
    assert shop.access.api_token.reveal() in case.fake.tokens  # still works


def test_declining_in_ecwid_shows_why_and_stores_nothing(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id = case.new_store(1)
    calls = case.fake.token_calls
    declined = browse.get(case.decide(browse, ours, store_id, decision="cancel"))
    assert declined.status_code == 403 and "declined" in declined.text
    assert declined.headers["cache-control"] == "no-store"
    _nothing_happened(store, case, store_id, calls)


def test_a_code_ecwid_refuses_is_refused_and_stores_nothing(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id = case.new_store(1)
    url = case.decide(browse, ours, store_id)
    case.fake.codes.clear()  # expired at Ecwid (codes live a few minutes)
    refused = browse.get(url)
    assert refused.status_code == 400 and "Ecwid refused the authorization code" in refused.text
    assert shop_of(store, store_id) is None


def test_app_credentials_ecwid_refuses_are_named_for_the_operator(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id = case.new_store(1)
    url = case.decide(browse, ours, store_id)
    case.fake.client_secret = "rotated-at-ecwid"
    try:
        refused = browse.get(url)
    finally:
        case.fake.client_secret = SECRET
    assert refused.status_code == 400 and "SHOPRECO_ECWID_CLIENT_ID" in refused.text
    assert shop_of(store, store_id) is None


def test_connecting_again_keeps_the_shop_and_renews_token_and_config(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id, shop, _ = connected(store, case, ours, browse)
    case.fake.stores[int(store_id)].storage.clear()
    again = case.connect(browse, ours, store_id)
    assert again.status_code == 200 and "Connected again" in again.text
    assert "api-key" not in again.text
    renewed = shop_of(store, store_id)
    assert renewed is not None and renewed.shop_id == shop.shop_id
    assert renewed.access.api_token.reveal() == case.fake.issued[-2]  # the newest token
    assert json.loads(case.fake.stores[int(store_id)].storage["public"])["widget_key"] == \
        shop.widget_key


def test_the_storefront_script_is_javascript_that_names_the_app(ours, browse) -> None:
    script = browse.get(ours + ecwid.STOREFRONT_JS_PATH)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    assert f'var APP = "{CLIENT_ID}"' in script.text and "getAppPublicConfig" in script.text
    assert SECRET not in script.text


def _widget_request(request: Any, ours: str) -> bool:
    return request.url.startswith(ours + "/widgets/v1/recommendations?")


@pytest.mark.parametrize("page, expected", [
    ({"page": "PRODUCT", "productId": "2"}, {"placement": "also_bought", "product_id": "2"}),
    ({"page": "CART", "productIds": "1,3"}, {"placement": "cart", "product_ids": "1,3"})])
def test_on_the_storefront_the_script_asks_our_server_for_widgets(
        store: Store, case: Case, ours: str, browse: httpx.Client, browser: Any,  # noqa: F811
        page: dict[str, str], expected: dict[str, str]) -> None:
    store_id, shop, _ = connected(store, case, ours, browse)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        tab = context.new_page()
        watch = PageWatch(tab)
        with tab.expect_request(lambda r: _widget_request(r, ours), timeout=WAIT_MS) as asked:
            tab.goto(f"{case.fake.base_url}/store/{store_id}?" + "&".join(
                f"{k}={v}" for k, v in page.items()))
        query = dict(parse_qsl(urlsplit(asked.value.url).query))
        assert query["key"] == shop.widget_key
        assert {k: query[k] for k in expected} == expected
        answer = asked.value.response()
        assert answer is not None and answer.status == 200
        assert answer.headers["access-control-allow-origin"] == case.fake.base_url
        tab.wait_for_selector(f"#shopreco-ecwid-{page['page'].lower()}", state="attached")
        assert watch.errors == []
    finally:
        context.close()


def test_the_connection_page_shows_the_apps_webhooks_live_while_the_token_works(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id, _, _ = connected(store, case, ours, browse)
    sign_in(browse, ours, case.dashboard[store_id])
    page = browse.get(ours + "/admin/connection").text
    for topic in ecwid.EVENTS:
        assert f'<tr><th scope="row">{topic}</th><td>live</td></tr>' in page
    case.fake.uninstall(store_id=int(store_id))  # removed in Ecwid: the token stops working
    page = browse.get(ours + "/admin/connection").text
    assert page.count("<td>not active</td>") == len(ecwid.EVENTS)


def test_disconnect_deletes_the_public_config_and_stops_work(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id, shop, _ = connected(store, case, ours, browse)
    case.uninstall(browse, ours, store_id)
    assert "public" not in case.fake.stores[int(store_id)].storage
    after = shop_of(store, store_id)
    assert after is not None and after.uninstalled_at is not None
    assert not after.access.api_token.reveal()
    assert store.run(lambda r: common.connection(r, shop.shop_id))["stage"] == "disconnected"


def test_ecwids_application_uninstalled_stops_work_for_the_shop(
        store: Store, case: Case, ours: str, browse: httpx.Client) -> None:
    store_id, _, _ = connected(store, case, ours, browse)
    signed = case.fake.uninstall(int(store_id))
    answer = browse.post(signed.url, content=signed.body, headers=signed.headers)
    assert answer.status_code == 200, answer.text

    def removed() -> None:
        after = shop_of(store, store_id)
        assert after is not None and after.uninstalled_at is not None
        assert not after.access.api_token.reveal()

    eventually(removed, timeout=60)


def test_no_secret_appears_in_any_answer_or_log(
        store: Store, case: Case, ours: str, browse: httpx.Client,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store_id, _, landing = connected(store, case, ours, browse)
    answers = [landing.text, case.replay(browse, ours).text,
               browse.get(case.decide(browse, ours, case.new_store(0), "cancel")).text,
               browse.get(ours + ecwid.STOREFRONT_JS_PATH).text, browse.get(ours + "/connect").text]
    sign_in(browse, ours, case.dashboard[store_id])
    answers.append(browse.get(ours + "/admin/connection").text)
    for secret in case.issued_secrets():
        for where in (*answers, caplog.text):
            assert secret not in where


def test_the_card_is_built_from_settings_alone(store: Store) -> None:
    settings = settings_for(store, ecwid_client_id="app", ecwid_client_secret=Secret("s3cr3t"),
                            public_url="https://reco.example.com/")
    card = ecwid.CONNECTOR.card(settings)
    assert "https://reco.example.com/connect/ecwid/callback" in card and "s3cr3t" not in card
    assert re.search(r"id='connect-ecwid-start' href='/connect/ecwid/start'", card)
