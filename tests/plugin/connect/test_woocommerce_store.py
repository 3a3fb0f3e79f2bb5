"""plugin.connect.woocommerce_store: the store's address, and its REST API (currency, our
webhooks created, repaired, listed and removed) against the fake WooCommerce over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from plugin.config import Secret, Settings
from plugin.connect.common import ConnectError, HookState
from plugin.connect.woocommerce_store import (
    TOPICS,
    StoreApi,
    ensure_hooks,
    hooks_live,
    is_ours,
    remove_hooks,
    store_address,
    store_domain,
)
from plugin.demo.fake_woocommerce import FakeStore, FakeWooCommerce, Key
from plugin.store.shops import PlatformAccess, Shop
from tests.conftest import run_async
from tests.plugin.shopify.conftest import AppServer
from webhooks.http import FetchError, PlatformHttp

T = TypeVar("T")
PUBLIC = Settings(public_url="https://reco.example.com")
LOCAL = replace(PUBLIC, public_url="http://127.0.0.1:8000")
OURS = "http://127.0.0.1:9/webhooks/woocommerce/"  # nothing listens: pings fail, as allowed


@pytest.mark.parametrize(("typed", "address"), [
    ("shop.example", "https://shop.example"),
    (" https://Shop.Example/ ", "https://shop.example"),
    ("https://example.com/store/", "https://example.com/store"),
    ("https://shop.example:8443", "https://shop.example:8443"),
    ("https://Bücher.example/", "https://xn--bcher-kva.example"),
])
def test_a_store_address_is_its_home_page_in_one_spelling(typed: str, address: str) -> None:
    assert store_address(typed, PUBLIC) == address


@pytest.mark.parametrize(("typed", "why"), [
    ("", "web address"), ("javascript:alert(1)", "web address"),
    ("https://user:pw@shop.example", "web address"), ("https://shop.example/?p=1", "without ?"),
    ("http://shop.example", "https://"), ("https://10.0.0.5", "private"),
    ("https://localhost:8080", "private"), ("https://[::1]/shop", "private"),
    ("https://shop..example", "not valid"),
])
def test_an_address_that_is_no_public_https_store_is_refused(typed: str, why: str) -> None:
    with pytest.raises(ConnectError, match=why):
        store_address(typed, PUBLIC)


def test_a_local_shopreco_may_connect_a_local_plain_http_store() -> None:
    assert store_address("http://127.0.0.1:8080/store", LOCAL) == "http://127.0.0.1:8080/store"


def test_the_registry_knows_a_store_by_host_and_folder() -> None:
    assert store_domain("https://shop.example") == "shop.example"
    assert store_domain("https://Example.com:8443/Store") == "example.com:8443/store"


def test_our_webhooks_are_those_delivering_to_the_shops_receiver() -> None:
    assert is_ours({"delivery_url": "https://reco.example/webhooks/woocommerce/s1"}, "s1")
    assert is_ours({"delivery_url": "https://old.example/x/webhooks/woocommerce/s1/"}, "s1")
    assert not is_ours({"delivery_url": "https://reco.example/webhooks/woocommerce/as1"}, "s1")
    assert not is_ours({"delivery_url": "https://zapier.example/hook"}, "s1")
    assert not is_ours("not a webhook", "s1")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWooCommerce]:
    woo = FakeWooCommerce()
    with AppServer(woo.app) as url:
        woo.base_url = url
        yield woo


def keyed(fake: FakeWooCommerce, permissions: str = "read_write") -> tuple[FakeStore, str]:
    """A new store with a key pair ck_test / cs_test of these permissions; its address."""
    store = fake.new_store()
    store.keys["ck_test"] = Key(1, "cs_test", permissions)
    return store, fake.store_url(store.name)


def with_api(url: str, work: Callable[[StoreApi], Awaitable[T]], secret: str = "cs_test") -> T:
    async def run() -> T:
        http = PlatformHttp(backoff_base=0.01)
        try:
            return await work(StoreApi.for_store(http, url, "ck_test", Secret(secret)))
        finally:
            await http.aclose()

    return run_async(run)


def shop_of(url: str, shop_id: str = "s1") -> Shop:
    return Shop(shop_id, "woocommerce", store_domain(url), url, "EUR", (Secret("w"),), "wk",
                "", 0.0, PlatformAccess(api_base=url + "/wp-json/wc/v3", api_user="ck_test",
                                        api_token=Secret("cs_test")))


def with_http(work: Callable[[PlatformHttp], Awaitable[T]]) -> T:
    async def run() -> T:
        http = PlatformHttp(backoff_base=0.01)
        try:
            return await work(http)
        finally:
            await http.aclose()

    return run_async(run)


def test_the_currency_comes_from_the_stores_setting(fake: FakeWooCommerce) -> None:
    store, url = keyed(fake)
    store.currency = "CHF"
    assert with_api(url, lambda api: api.currency()) == "CHF"
    with pytest.raises(FetchError) as refused:
        with_api(url, lambda api: api.currency(), secret="cs_wrong")
    assert refused.value.status == 401 and "cs_wrong" not in str(refused.value)


def test_our_webhooks_are_created_once_and_repaired_on_a_second_run(
        fake: FakeWooCommerce) -> None:
    store, url = keyed(fake)
    other = {"id": 900_005, "topic": "order.created", "status": "active", "secret": "theirs",
             "delivery_url": "https://erp.example/hooks"}
    store.webhooks[900_005] = other
    made = with_api(url, lambda api: ensure_hooks(api, "s1", OURS + "s1", "sec1"))
    assert [hook["topic"] for hook in made] == list(TOPICS)
    ours = {hid: h for hid, h in store.webhooks.items() if hid != 900_005}
    assert {(h["delivery_url"], h["secret"], h["status"]) for h in ours.values()} == {
        (OURS + "s1", "sec1", "active")}
    assert {h["id"] for h in made} == {str(hid) for hid in ours}
    assert [hid for hid, _ in store.pings] == sorted(ours)  # each creation pinged
    next(iter(ours.values()))["status"] = "disabled"
    again = with_api(url, lambda api: ensure_hooks(api, "s1", OURS + "s1", "sec1"))
    assert again == made and len(store.webhooks) == len(TOPICS) + 1
    assert {h["status"] for h in store.webhooks.values()} == {"active"}
    assert store.webhooks[900_005] == other  # not ours: untouched


def test_a_read_key_cannot_create_webhooks(fake: FakeWooCommerce) -> None:
    store, url = keyed(fake, "read")
    with pytest.raises(FetchError, match="answered 401"):
        with_api(url, lambda api: ensure_hooks(api, "s1", OURS + "s1", "sec1"))
    assert store.webhooks == {}


def test_an_item_the_store_refuses_in_a_batch_fails_it_but_a_vanished_one_is_gone(
        fake: FakeWooCommerce) -> None:
    _, url = keyed(fake)
    with pytest.raises(FetchError, match="refused to update a webhook: ID is invalid"):
        with_api(url, lambda api: api.batch(update=[{"id": 424242, "status": "active"}]))
    with pytest.raises(FetchError, match="refused to create a webhook: Webhook topic"):
        with_api(url, lambda api: api.batch(create=[{"topic": "order.exploded",
                                                     "delivery_url": OURS}]))
    assert with_api(url, lambda api: api.batch(delete=[424242]))["delete"][0]["id"] == 424242


def test_hooks_are_listed_over_every_page(fake: FakeWooCommerce) -> None:
    store, url = keyed(fake)
    for hook_id in range(800_001, 800_151):
        store.webhooks[hook_id] = {"id": hook_id, "topic": "order.updated", "status": "active",
                                   "secret": "x", "delivery_url": f"{OURS}other{hook_id}"}
    store.webhooks[800_151] = {**store.webhooks[800_150], "id": 800_151,
                               "delivery_url": OURS + "s1"}
    assert len(with_api(url, lambda api: api.hooks())) == 151
    assert [h["id"] for h in with_api(url, lambda api: api.our_hooks("s1"))] == [800_151]


def test_live_hooks_report_their_state_and_removing_deletes_only_ours(
        fake: FakeWooCommerce) -> None:
    store, url = keyed(fake)
    with_api(url, lambda api: ensure_hooks(api, "s1", OURS + "s1", "sec1"))
    with_api(url, lambda api: ensure_hooks(api, "s2", OURS + "s2", "sec2"))
    paused = next(h for h in store.webhooks.values()
                  if h["topic"] == "product.deleted" and h["delivery_url"].endswith("s1"))
    paused["status"] = "paused"
    live: list[HookState] = with_http(lambda http: hooks_live(http, shop_of(url)))
    assert sorted(live, key=lambda h: h.topic) == sorted(
        (HookState(topic, topic != "product.deleted") for topic in TOPICS),
        key=lambda h: h.topic)
    assert with_http(lambda http: remove_hooks(http, shop_of(url))) == len(TOPICS)
    left: list[dict[str, Any]] = list(store.webhooks.values())
    assert len(left) == len(TOPICS) and all(h["delivery_url"].endswith("s2") for h in left)
    assert with_http(lambda http: remove_hooks(http, shop_of(url))) == 0
