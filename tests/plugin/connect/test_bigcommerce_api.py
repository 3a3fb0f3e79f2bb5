"""plugin.connect.bigcommerce_api against the local fake BigCommerce over real HTTP: the token
request, the store's profile, keeping one set of webhooks and one script (created, reused,
brought up to date), V3 pages, and taking them down with a live or a revoked token."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis

from plugin.config import Secret, Settings
from plugin.connect import bigcommerce_api as api
from plugin.connect import common
from plugin.connect.bigcommerce_api import HOOK_SCOPES, SCRIPT_NAME, StoreApi
from plugin.connect.common import ConnectError
from plugin.demo.fake_bigcommerce import FakeBigCommerce
from plugin.store.shops import PlatformAccess, Shop, add_shop, get_shop
from tests.conftest import Store, run_async
from tests.plugin.shopify.conftest import AppServer
from webhooks.http import PlatformHttp

CLIENT_ID, SECRET = "bcapitestclient", "bc_api_test_secret_" + "3c4d5e6f7a8b9c0d" * 3
AUTH = "https://reco.example.com/connect/bigcommerce/auth"
T = TypeVar("T")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBigCommerce]:
    bigcommerce = FakeBigCommerce(CLIENT_ID, SECRET)
    with AppServer(bigcommerce.app) as url:
        bigcommerce.base_url, bigcommerce.callbacks = url, {"auth": AUTH}
        yield bigcommerce


def installed(fake: FakeBigCommerce) -> tuple[str, str]:
    """A store with our app's token (as after an install): its hash and the token."""
    store_hash = fake.add_store(0)
    fake.stores[store_hash].token = secrets.token_hex(16)
    return store_hash, fake.stores[store_hash].token


def with_api(fake: FakeBigCommerce, store_hash: str, token: str,
             work: Callable[[StoreApi], Awaitable[T]]) -> T:
    async def call() -> T:
        http = PlatformHttp()
        try:
            return await work(StoreApi(http, "test", f"{fake.base_url}/stores/{store_hash}", token))
        finally:
            await http.aclose()

    return run_async(call)


def destination(shop_id: str, host: str = "https://reco.example.com") -> str:
    return f"{host}/webhooks/bigcommerce/{shop_id}"


def test_the_hooks_are_created_once_and_kept_live_and_here(fake: FakeBigCommerce) -> None:
    store_hash, token = installed(fake)
    made = with_api(fake, store_hash, token,
                    lambda a: api.ensure_hooks(a, destination("s1"), "s1"))
    assert sorted(h["topic"] for h in made) == sorted(HOOK_SCOPES)
    hooks = fake.stores[store_hash].hooks
    moved = next(iter(hooks.values()))
    moved.update(is_active=False, destination=destination("s1", "https://old.example.com"))
    foreign = with_api(fake, store_hash, token, lambda a: a.call("POST", "/v3/hooks", json={
        "scope": "store/order/created", "destination": destination("s10")}))
    again = with_api(fake, store_hash, token,
                     lambda a: api.ensure_hooks(a, destination("s1"), "s1"))
    assert again == made
    assert moved["is_active"] is True and moved["destination"] == destination("s1")
    assert hooks[foreign["data"]["id"]]["destination"] == destination("s10")  # not ours
    assert len(hooks) == len(HOOK_SCOPES) + 1


def test_the_script_is_created_once_and_brought_up_to_date(fake: FakeBigCommerce) -> None:
    store_hash, token = installed(fake)
    settings = Settings(public_url="https://reco.example.com")
    shop = Shop("s1", "bigcommerce", store_hash, "", "EUR", (), "wk_one", "", 0.0)
    wanted = api.script_for(settings, shop)
    [made] = with_api(fake, store_hash, token, lambda a: api.ensure_script(a, wanted))
    scripts = fake.stores[store_hash].scripts
    [script] = scripts.values()
    assert made == {"id": script["uuid"], "name": SCRIPT_NAME}
    assert 'data-key="wk_one"' in script["html"] and script["consent_category"] == "analytics"
    stamp = script["date_modified"]
    assert with_api(fake, store_hash, token, lambda a: api.ensure_script(a, wanted)) == [made]
    assert script["date_modified"] == stamp  # nothing to change
    moved = api.script_for(replace(settings, public_url="https://new.example.com"), shop)
    assert with_api(fake, store_hash, token, lambda a: api.ensure_script(a, moved)) == [made]
    assert list(scripts) == [made["id"]]
    assert 'src="https://new.example.com/widgets/v1/embed.js"' in script["html"]


def test_a_collection_is_read_through_all_its_pages(fake: FakeBigCommerce) -> None:
    store_hash, token = installed(fake)
    hooks = fake.stores[store_hash].hooks
    for n in range(260):
        hooks[n] = {"id": n, "scope": "store/order/created", "destination": destination(str(n)),
                    "is_active": True}
    listed = with_api(fake, store_hash, token, lambda a: a.listed("/v3/hooks"))
    assert [h["id"] for h in listed] == list(range(260))


def test_the_needed_scopes_may_be_granted_as_read_only_or_modify() -> None:
    read_only = ("store_v2_orders_read_only store_v2_products_read_only "
                 "store_v2_information_read_only store_v2_content")
    assert api.missing_scopes(read_only) == []
    assert api.missing_scopes("store_v2_orders store_v2_products store_v2_information "
                              "store_v2_content") == []
    assert api.missing_scopes("store_v2_orders_read_only store_v2_content_read_only") == [
        "Products (read-only)", "Information & settings (read-only)", "Content (modify)"]


def test_a_code_becomes_a_token_once(fake: FakeBigCommerce) -> None:
    store_hash = fake.add_store(0)
    fake.codes["code-1"] = store_hash
    settings = Settings(bigcommerce_client_id=CLIENT_ID,
                        bigcommerce_client_secret=Secret(SECRET),
                        bigcommerce_login_url=fake.base_url)

    async def exchange() -> tuple[Secret, str]:
        http = PlatformHttp()
        try:
            return await api.exchange_code(http, settings, "code-1", fake_scopes(),
                                           f"stores/{store_hash}", AUTH)
        finally:
            await http.aclose()

    token, scope = run_async(exchange)
    assert token.reveal() == fake.stores[store_hash].token and scope == fake_scopes()
    with pytest.raises(ConnectError, match="refused the authorization code"):
        run_async(exchange)


def fake_scopes() -> str:
    return ("store_v2_orders_read_only store_v2_products_read_only "
            "store_v2_information_read_only store_v2_content")


def test_the_profile_gives_the_storefront_and_currency_or_their_defaults(
        fake: FakeBigCommerce) -> None:
    store_hash, token = installed(fake)
    assert with_api(fake, store_hash, token, lambda a: api.store_profile(a, store_hash)) == (
        f"https://shop-{store_hash}.example", "EUR")
    fake.stores[store_hash].about = {"secure_url": "javascript:alert(1)", "currency": "euro"}
    assert with_api(fake, store_hash, token, lambda a: api.store_profile(a, store_hash)) == (
        f"https://store-{store_hash}.mybigcommerce.com", "USD")


def registered(store: Store, fake: FakeBigCommerce, store_hash: str, token: str) -> Shop:
    shop_id = "bc-" + secrets.token_hex(4)
    return store.run(lambda r: add_shop(
        r, shop_id, "bigcommerce", store_hash, "https://reco.example.com",
        webhook_secret=SECRET, access=PlatformAccess(
            store_ref=store_hash, api_base=f"{fake.base_url}/stores/{store_hash}",
            api_token=Secret(token)))).shop


def take_down(store: Store, shop: Shop, prepare: bool = True) -> tuple[Any, Shop | None]:
    async def run(redis: aioredis.Redis) -> tuple[Any, Shop | None]:
        http = PlatformHttp()
        try:
            if prepare:
                own = api.shop_api(http, shop)
                await common.record(redis, shop.shop_id, hooks=await api.ensure_hooks(
                    own, destination(shop.shop_id), shop.shop_id), scripts=await
                    api.ensure_script(own, api.script_for(Settings(), shop)))
            left = await api.remove_ours(redis, http, shop)
            return left, await get_shop(redis, shop.shop_id)
        finally:
            await http.aclose()

    return store.run(run)


def test_taking_down_deletes_ours_and_stops_work(store: Store, fake: FakeBigCommerce) -> None:
    store_hash, token = installed(fake)
    shop = registered(store, fake, store_hash, token)
    left, after = take_down(store, shop)
    assert left == {"hooks": [], "scripts": []}
    assert fake.stores[store_hash].hooks == {} and fake.stores[store_hash].scripts == {}
    assert after is not None and after.uninstalled_at is not None
    assert not after.access.api_token.reveal()


def test_with_a_revoked_token_what_was_made_is_left_as_recorded(
        store: Store, fake: FakeBigCommerce) -> None:
    store_hash, token = installed(fake)
    shop = registered(store, fake, store_hash, token)
    made = with_api(fake, store_hash, token, lambda a: api.ensure_hooks(
        a, destination(shop.shop_id), shop.shop_id))
    store.run(lambda r: common.record(r, shop.shop_id, hooks=made))
    fake.stores[store_hash].token = ""  # BigCommerce revoked it (the app was uninstalled)
    left, after = take_down(store, shop, prepare=False)
    assert left == {"hooks": made, "scripts": []}
    assert len(fake.stores[store_hash].hooks) == len(HOOK_SCOPES)  # BigCommerce's to delete
    assert after is not None and after.uninstalled_at is not None
