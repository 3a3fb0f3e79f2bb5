"""The shared suite every one-click connect passes (WooCommerce, BigCommerce, Ecwid): each
platform's case (tests/plugin/connect/<platform>_case.py, the contract in cases.py) plays the
owner and its local fake platform against our live server."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest

from plugin.store import keys, sealing
from plugin.store.connection import text
from plugin.store.shops import Shop, shop_by_domain
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import eventually
from tests.plugin.connect import bigcommerce_case, ecwid_case, woocommerce_case
from tests.plugin.connect.cases import ConnectCase

CASE_MODULES: tuple[ModuleType, ...] = (woocommerce_case, bigcommerce_case, ecwid_case)
ORDERS = 12


@pytest.fixture(scope="module", params=CASE_MODULES, ids=lambda m: m.__name__.split(".")[-1])
def case(request: pytest.FixtureRequest) -> Iterator[ConnectCase]:
    with request.param.Case() as started:
        yield started


@pytest.fixture(scope="module")
def ours(store: Store, case: ConnectCase) -> Iterator[str]:
    port = free_port()
    settings = settings_for(store, public_url=f"http://127.0.0.1:{port}", **case.settings())
    with LiveServer(settings, port=port) as url:
        yield url


def _shop(store: Store, case: ConnectCase, domain: str) -> Shop | None:
    return store.run(lambda r: shop_by_domain(r, case.platform, domain))


def _connection(store: Store, shop_id: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in
            store.run(lambda r: r.hgetall(keys.connection(shop_id))).items()}


def _imported(store: Store, shop_id: str) -> dict[str, str]:
    found = _connection(store, shop_id)
    assert found.get("stage") == "done", found
    return found


def _connected(store: Store, case: ConnectCase, ours: str, orders: int = ORDERS
               ) -> tuple[str, Shop, httpx.Response]:
    domain = case.new_store(orders)
    with httpx.Client(timeout=30) as browser:
        landing = case.connect(browser, ours, domain)
    assert landing.status_code == 200, landing.text
    shop = _shop(store, case, domain)
    assert shop is not None, f"no {case.platform} shop registered for {domain}"
    return domain, shop, landing


def test_a_connect_registers_the_shop_with_sealed_keys_webhooks_and_its_history(
        store: Store, case: ConnectCase, ours: str) -> None:
    domain, shop, landing = _connected(store, case, ours)
    assert shop.platform == case.platform and shop.uninstalled_at is None
    assert landing.headers["cache-control"] == "no-store"
    assert f'<code id="shop-id">{shop.shop_id}</code>' in landing.text
    api_key = re.search(r"<code id='api-key'>(sk_[^<]+)</code>", landing.text)
    assert api_key is not None, "a new shop's API key is shown once"
    token = shop.access.api_token.reveal()
    assert token and token in case.issued_secrets()
    raw = store.run(lambda r: r.hget(keys.shop_config(shop.shop_id), "api_token"))
    assert raw is not None
    stored = text(raw)
    assert stored.startswith(sealing.SEALED) and token not in stored  # sealed at rest
    hooks = case.hooks(domain)
    assert hooks, "webhooks were created (or, on Ecwid, come with the app)"
    assert all(hook["url"].startswith(ours) for hook in hooks)
    done = eventually(lambda: _imported(store, shop.shop_id), timeout=60)
    assert done["orders"] == str(ORDERS)
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == ORDERS
    with httpx.Client(base_url=ours, timeout=30) as client:  # the key shown once works
        answer = client.get(f"/api/v1/shops/{shop.shop_id}/model",
                            headers={"Authorization": f"Bearer {api_key[1]}"})
        assert answer.status_code == 200, answer.text


def test_a_new_order_after_connecting_arrives_by_webhook(
        store: Store, case: ConnectCase, ours: str) -> None:
    domain, shop, _ = _connected(store, case, ours, orders=2)
    eventually(lambda: _imported(store, shop.shop_id), timeout=60)
    webhook = case.new_order(domain, ours)
    with httpx.Client(base_url=ours, timeout=30) as client:
        answer = client.post(webhook.path, content=webhook.body, headers=webhook.headers)
    assert answer.status_code == 200, answer.text
    eventually(lambda: _count_is(store, shop.shop_id, 3), timeout=60)


def _count_is(store: Store, shop_id: str, expected: int) -> None:
    assert store.run(lambda r: r.hlen(keys.orders(shop_id))) == expected


def test_a_replayed_callback_is_refused_and_changes_nothing(
        store: Store, case: ConnectCase, ours: str) -> None:
    domain, shop, _ = _connected(store, case, ours, orders=1)
    before = store.run(lambda r: r.hgetall(keys.shop_config(shop.shop_id)))
    shops_before = store.run(lambda r: r.smembers(keys.SHOPS))
    hooks_before = case.hooks(domain)
    with httpx.Client(timeout=30) as client:
        again = case.replay(client, ours)
    assert 400 <= again.status_code < 500, again.text
    assert store.run(lambda r: r.hgetall(keys.shop_config(shop.shop_id))) == before
    assert store.run(lambda r: r.smembers(keys.SHOPS)) == shops_before
    assert case.hooks(domain) == hooks_before


def test_connecting_the_same_store_again_keeps_one_shop_and_one_set_of_webhooks(
        store: Store, case: ConnectCase, ours: str) -> None:
    domain, shop, _ = _connected(store, case, ours, orders=1)
    hooks = case.hooks(domain)
    scripts = case.scripts(domain)
    with httpx.Client(timeout=30) as browser:
        landing = case.connect(browser, ours, domain)
    assert landing.status_code == 200, landing.text
    assert "api-key" not in landing.text  # the known shop keeps its keys
    again = _shop(store, case, domain)
    assert again is not None and again.shop_id == shop.shop_id
    assert sorted(h["topic"] for h in case.hooks(domain)) == sorted(h["topic"] for h in hooks)
    assert len(case.scripts(domain)) == len(scripts)


def test_uninstalling_stops_work_for_the_shop(
        store: Store, case: ConnectCase, ours: str) -> None:
    domain, _shop_before, _ = _connected(store, case, ours, orders=1)
    with httpx.Client(timeout=30) as client:
        case.uninstall(client, ours, domain)
    after = _shop(store, case, domain)
    assert after is not None and after.uninstalled_at is not None
    assert not after.access.api_token.reveal()  # the token is gone
    if case.platform != "ecwid":  # Ecwid's webhooks belong to the app, not to one store
        assert case.hooks(domain) == []
    assert case.scripts(domain) == []


def test_no_issued_secret_appears_in_answers_or_logs(
        store: Store, case: ConnectCase, ours: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _domain, shop, landing = _connected(store, case, ours, orders=3)
    eventually(lambda: _imported(store, shop.shop_id), timeout=60)
    with httpx.Client(timeout=30) as client:
        refused = case.replay(client, ours)
        progress = re.search(r'fetch\("([^"]+)"\)', landing.text)
        assert progress is not None
        state = client.get(ours + progress[1])
        assert state.status_code == 200 and state.json()["stage"] == "done"
    for secret in case.issued_secrets():
        for where in (landing.text, refused.text, state.text, caplog.text):
            assert secret not in where
