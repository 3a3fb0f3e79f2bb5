"""plugin.connect.bigcommerce over real HTTP: our live server as the app of a local fake
BigCommerce (plugin.demo.fake_bigcommerce), the owner's browser and BigCommerce's calls played
by the case in bigcommerce_case.py. The shared suite (test_connectors.py) runs this case too;
here are BigCommerce's own steps: the card, the install's webhooks and script, the signed
payloads of load, uninstall and remove_user, and the dashboard's Disconnect."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from plugin.config import Secret, Settings
from plugin.connect import bigcommerce, common
from plugin.connect.bigcommerce_api import HOOK_SCOPES, SCRIPT_NAME
from plugin.connect.common import ConnectError
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import Shop, shop_by_domain
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import eventually
from tests.plugin.connect.bigcommerce_case import CLIENT_ID, SECRET, Case

OTHER_SECRET = "not_the_client_secret_" + "0123456789abcdef" * 3


@pytest.fixture(scope="module")
def case() -> Iterator[Case]:
    with Case() as started:
        yield started


@pytest.fixture(scope="module")
def ours(store: Store, case: Case) -> Iterator[str]:
    port = free_port()
    settings = settings_for(store, public_url=f"http://127.0.0.1:{port}", **case.settings())
    with LiveServer(settings, port=port) as url:
        case.register(url)
        yield url


def registered(store: Store, store_hash: str) -> Shop | None:
    return store.run(lambda r: shop_by_domain(r, "bigcommerce", store_hash))


def connection(store: Store, shop_id: str) -> dict[str, Any]:
    return store.run(lambda r: common.connection(r, shop_id))


def imported(store: Store, shop_id: str) -> dict[str, Any]:
    found = connection(store, shop_id)
    assert found.get("stage") == "done", found
    return found


def connected(store: Store, case: Case, ours: str, orders: int = 2
              ) -> tuple[str, Shop, httpx.Response]:
    store_hash = case.new_store(orders)
    with httpx.Client(timeout=30) as browser:
        landing = case.connect(browser, ours, store_hash)
    assert landing.status_code == 200, landing.text
    shop = registered(store, store_hash)
    assert shop is not None
    eventually(lambda: imported(store, shop.shop_id), timeout=60)
    return store_hash, shop, landing


def order_count(store: Store, shop_id: str) -> int:
    return int(store.run(lambda r: r.hlen(keys.orders(shop_id))))


# --- the card ----------------------------------------------------------------------------

def test_the_card_links_the_install_and_lists_the_app_profile(case: Case, ours: str) -> None:
    page = httpx.get(ours + "/connect", timeout=30).text
    assert f'href="{case.base_url}/app/{CLIENT_ID}/install"' in page
    for path in bigcommerce.PATHS.values():
        assert f"<code>{ours}{path}</code>" in page
    assert "Content (modify)" in page and SECRET not in page


def test_the_card_says_what_to_set_without_an_app() -> None:
    settings = Settings(public_url="https://reco.example.com")
    assert not bigcommerce.CONNECTOR.configured(settings)
    card = bigcommerce.CONNECTOR.card(settings)
    assert "SHOPRECO_BIGCOMMERCE_CLIENT_ID" in card and "bigcommerce-install" not in card
    assert "<code>https://reco.example.com/connect/bigcommerce/auth</code>" in card


# --- the install -------------------------------------------------------------------------

def test_the_install_registers_the_shop_with_its_hooks_script_and_history(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, landing = connected(store, case, ours, orders=5)
    assert landing.headers["content-security-policy"] == (
        f"frame-ancestors https://store-{store_hash}.mybigcommerce.com;")
    assert (shop.access.store_ref, shop.access.api_base) == (
        store_hash, f"{case.base_url}/stores/{store_hash}")
    assert (shop.storefront_url, shop.currency) == (f"https://shop-{store_hash}.example", "EUR")
    assert shop.origins == (f"https://shop-{store_hash}.example",)
    assert shop.webhook_secrets[0].reveal() == SECRET  # BigCommerce signs with it
    assert order_count(store, shop.shop_id) == 5
    hooks = case.hooks(store_hash)
    assert sorted(h["scope"] for h in hooks) == sorted(HOOK_SCOPES)
    assert {h["destination"] for h in hooks} == {f"{ours}/webhooks/bigcommerce/{shop.shop_id}"}
    assert all(h["is_active"] for h in hooks)
    [script] = case.scripts(store_hash)
    assert (script["name"], script["kind"], script["auto_uninstall"], script["visibility"],
            script["load_method"]) == (SCRIPT_NAME, "script_tag", True, "storefront", "default")
    assert script["html"] == (f'<script async src="{ours}/widgets/v1/embed.js" data-key="'
                              f'{shop.widget_key}" data-platform="bigcommerce"></script>')
    found = connection(store, shop.shop_id)
    assert len(found["hooks"]) == len(HOOK_SCOPES)
    assert found["scripts"] == [{"id": script["uuid"], "name": SCRIPT_NAME}]
    assert "Script Manager" in landing.text and "data-shopreco" in landing.text


def test_the_access_token_is_in_no_redis_value(store: Store, case: Case, ours: str) -> None:
    _, shop, _ = connected(store, case, ours)
    token = shop.access.api_token.reveal()
    assert token in case.fake.issued

    async def values(redis: Any) -> list[bytes]:
        found: list[bytes] = []
        async for key in redis.scan_iter(count=1000):
            kind = text(await redis.type(key))
            if kind == "string":
                found.append(await redis.get(key))
            elif kind == "hash":
                found += list((await redis.hgetall(key)).values())
            elif kind == "stream":
                found += [v for _, fields in await redis.xrange(key) for v in fields.values()]
        return found

    assert not [v for v in store.run(values) if token.encode() in v]


def test_a_webhook_after_the_install_stores_its_order(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours)
    sent = case.new_order(store_hash, ours)
    answer = httpx.post(ours + sent.path, content=sent.body, headers=sent.headers, timeout=30)
    assert answer.status_code == 200, answer.text
    eventually(lambda: _count_is(store, shop.shop_id, 3), timeout=60)


def _count_is(store: Store, shop_id: str, expected: int) -> None:
    assert order_count(store, shop_id) == expected


def test_a_code_works_once_and_an_unknown_one_registers_nothing(
        store: Store, case: Case, ours: str) -> None:
    connected(store, case, ours)
    with httpx.Client(timeout=30) as browser:
        again = case.replay(browser, ours)
        assert again.status_code == 400 and "used already" in again.text
        fresh = case.new_store(0)
        forged = browser.get(f"{ours}{bigcommerce.PATHS['auth']}?" + urlencode({
            "code": "f" * 32, "context": f"stores/{fresh}", "scope": "store_v2_content"}))
        assert forged.status_code == 400 and "refused the authorization code" in forged.text
        assert forged.headers["content-security-policy"] == (
            f"frame-ancestors https://store-{fresh}.mybigcommerce.com;")
        nameless = browser.get(f"{ours}{bigcommerce.PATHS['auth']}?code=x&scope=y&context=z")
        assert nameless.status_code == 400
    assert registered(store, fresh) is None


def test_a_script_bigcommerce_refuses_fails_the_install_and_says_so(
        store: Store, case: Case, ours: str) -> None:
    store_hash = case.new_store(0)
    case.fake.stores[store_hash].scripts = {str(n): {  # the app's ten, by some older version
        "uuid": str(n), "name": f"other {n}", "api_client_id": CLIENT_ID,
        "auto_uninstall": True} for n in range(10)}
    with httpx.Client(timeout=30) as browser:
        landing = case.connect(browser, ours, store_hash)
    assert landing.status_code == 502 and "answered 422" in landing.text
    shop = registered(store, store_hash)
    assert shop is not None
    found = connection(store, shop.shop_id)
    assert found["stage"] == "webhooks failed" and "422" in found["error"]


def test_connecting_again_keeps_one_shop_one_set_of_hooks_and_one_script(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours)
    first = {h["id"] for h in case.hooks(store_hash)}
    hooks = case.fake.stores[store_hash].hooks
    next(iter(hooks.values()))["is_active"] = False  # BigCommerce deactivated one
    with httpx.Client(timeout=30) as browser:
        assert case.connect(browser, ours, store_hash).status_code == 200
    again = registered(store, store_hash)
    assert again is not None and again.shop_id == shop.shop_id
    assert {h["id"] for h in case.hooks(store_hash)} == first
    assert all(h["is_active"] for h in case.hooks(store_hash))
    assert len(case.scripts(store_hash)) == 1
    assert again.access.api_token.reveal() == case.fake.stores[store_hash].token  # the new one


# --- load: the dashboard from the control panel ------------------------------------------

def test_load_signs_the_owner_in_to_the_dashboard(store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours)
    with httpx.Client(timeout=30) as panel:
        loaded = panel.get(case.fake.callback_url("load", store_hash))
        assert loaded.status_code == 303 and loaded.headers["location"] == "/admin/"
        home = panel.get(ours + "/admin/")
        assert home.status_code == 200, home.text
        policy = home.headers["content-security-policy"]  # framed by its control panel only
        assert policy == f"frame-ancestors https://store-{store_hash}.mybigcommerce.com;"
        assert shop.shop_id in panel.get(ours + "/admin/connection").text


@pytest.mark.parametrize("signing", [
    {"secret": OTHER_SECRET}, {"audience": "another-app"}, {"lifetime": -120},
    {"issuer": "not-bc"}])
def test_load_refuses_a_payload_bigcommerce_did_not_sign_for_us(
        store: Store, case: Case, ours: str, signing: dict[str, Any]) -> None:
    store_hash, _, _ = connected(store, case, ours, orders=0)
    with httpx.Client(timeout=30) as panel:
        refused = panel.get(case.fake.callback_url("load", store_hash, **signing))
        assert refused.status_code == 401 and "refused" in refused.text
        assert refused.headers["content-security-policy"] == (
            "frame-ancestors https://*.mybigcommerce.com;")
        assert panel.cookies.get("shopreco_admin") is None


def test_load_works_once_per_payload_and_only_for_a_connected_store(
        store: Store, case: Case, ours: str) -> None:
    store_hash, _, _ = connected(store, case, ours, orders=0)
    url = case.fake.callback_url("load", store_hash)
    with httpx.Client(timeout=30) as panel:
        assert panel.get(url).status_code == 303
        again = panel.get(url)
        assert again.status_code == 401 and "used already" in again.text
        stranger = case.new_store(0)
        unknown = panel.get(case.fake.callback_url("load", stranger))
        assert unknown.status_code == 403 and "not connected" in unknown.text
        assert panel.get(f"{ours}{bigcommerce.PATHS['load']}").status_code == 401


# --- uninstall, remove_user and Disconnect -----------------------------------------------

def test_uninstall_stops_work_and_a_later_webhook_is_not_processed(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours)
    late = case.new_order(store_hash, ours)  # signed now, delivered after the uninstall
    with httpx.Client(timeout=30) as bigcommerce_server:
        done = bigcommerce_server.get(case.fake.uninstall(store_hash))
    assert done.status_code == 200 and done.json()["status"] == "uninstalled"
    after = registered(store, store_hash)
    assert after is not None and after.uninstalled_at is not None
    assert not after.access.api_token.reveal()
    assert case.hooks(store_hash) == [] and case.scripts(store_hash) == []
    found = connection(store, shop.shop_id)
    assert (found["stage"], found["hooks"], found["scripts"]) == ("uninstalled", [], [])
    calls = len(case.fake.calls)
    answer = httpx.post(ours + late.path, content=late.body, headers=late.headers, timeout=30)
    assert answer.status_code == 200  # stored, never applied: the shop has no token
    eventually(lambda: _dead_lettered(store, shop.shop_id), timeout=30)
    assert order_count(store, shop.shop_id) == 2 and len(case.fake.calls) == calls
    widget = eventually(lambda: _empty(httpx.get(ours + "/widgets/v1/recommendations", params={
        "key": shop.widget_key, "placement": "trending"}, timeout=30).json()), timeout=30)
    assert widget["strategy"] == "none"
    with httpx.Client(timeout=30) as panel:
        assert panel.get(case.fake.callback_url("load", store_hash)).status_code == 403


def _dead_lettered(store: Store, shop_id: str) -> None:
    assert store.run(lambda r: r.xlen(keys.dead_letters(shop_id))) == 1


def _empty(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["items"] == [], answer
    return answer


def test_installing_again_after_an_uninstall_resumes_the_same_shop(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours)
    with httpx.Client(timeout=30) as client:
        assert client.get(case.fake.uninstall(store_hash)).status_code == 200
        landing = case.connect(client, ours, store_hash)
    assert landing.status_code == 200 and "api-key" not in landing.text
    back = registered(store, store_hash)
    assert back is not None and back.shop_id == shop.shop_id and back.uninstalled_at is None
    assert len(case.hooks(store_hash)) == len(HOOK_SCOPES) and len(case.scripts(store_hash)) == 1


def test_uninstall_and_remove_user_need_a_payload_signed_for_us(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours, orders=0)
    with httpx.Client(timeout=30) as server:
        forged = server.get(case.fake.callback_url("uninstall", store_hash,
                                                   secret=OTHER_SECRET))
        assert forged.status_code == 401
        assert forged.headers["content-type"] == "application/problem+json"
        assert server.get(case.fake.callback_url("remove_user", store_hash,
                                                 audience="x")).status_code == 401
        removed = server.get(case.fake.callback_url("remove_user", store_hash))
        assert removed.status_code == 200 and removed.json() == {"status": "ok"}
        unknown = server.get(case.fake.callback_url("uninstall", case.new_store(0)))
        assert unknown.status_code == 404
    still = registered(store, store_hash)
    assert still is not None and still.uninstalled_at is None
    assert len(case.hooks(store_hash)) == len(HOOK_SCOPES)
    assert shop.shop_id == still.shop_id


def test_the_dashboard_shows_the_live_hooks_and_disconnect_removes_hook_and_script(
        store: Store, case: Case, ours: str) -> None:
    store_hash, shop, _ = connected(store, case, ours, orders=0)
    with httpx.Client(timeout=30) as panel:
        panel.get(case.fake.callback_url("load", store_hash))
        page = panel.get(ours + "/admin/connection")
        assert page.text.count("<td>live</td>") == len(HOOK_SCOPES)
        assert "storefront script" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        done = panel.post(ours + "/admin/connection/disconnect", data={"csrf": csrf[1]})
        assert done.status_code == 303
    assert case.hooks(store_hash) == [] and case.scripts(store_hash) == []
    gone = registered(store, store_hash)
    assert gone is not None and gone.uninstalled_at is not None
    found = connection(store, shop.shop_id)
    assert (found["stage"], found["hooks"], found["scripts"]) == ("disconnected", [], [])


def test_no_secret_reaches_an_answer_or_a_log(
        store: Store, case: Case, ours: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store_hash, _, landing = connected(store, case, ours)
    with httpx.Client(timeout=30) as client:
        answers = [landing, case.replay(client, ours),
                   client.get(case.fake.callback_url("load", store_hash, secret=OTHER_SECRET)),
                   client.get(case.fake.uninstall(store_hash))]
    for secret in case.issued_secrets():
        for where in [*(a.text for a in answers), caplog.text]:
            assert secret not in where


# --- the signed payload itself ------------------------------------------------------------

def test_a_payload_names_its_store_or_is_refused(case: Case) -> None:
    settings = replace(Settings(), bigcommerce_client_id=CLIENT_ID,
                       bigcommerce_client_secret=Secret(SECRET))
    store_hash = case.new_store(0)
    assert bigcommerce.callback_store(case.fake.signed_payload(store_hash), settings) \
        == store_hash
    for bad in ("", "not.a.jwt", case.fake.signed_payload(store_hash, issuer="bc2")):
        with pytest.raises(ConnectError):
            bigcommerce.callback_store(bad, settings)
    with pytest.raises(ConnectError, match="stores/"):
        bigcommerce.store_hash_of("store/abc")


def test_a_not_configured_server_refuses_the_callbacks(store: Store) -> None:
    with LiveServer(settings_for(store, run_worker=False)) as url:
        for path in bigcommerce.PATHS.values():
            answer = httpx.get(url + path, timeout=30)
            assert answer.status_code == 404 and "SHOPRECO_BIGCOMMERCE_CLIENT_ID" in answer.text
