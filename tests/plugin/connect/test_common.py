"""plugin.connect.common: single-use connect requests, the connection's record, registering
a shop, the import with progress, progress links and the landing page (on the embedded
Redis)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from plugin.config import Secret
from plugin.connect import common
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.order import LineItem, Order
from plugin.store.records import mark_uninstalled
from plugin.store.shops import PlatformAccess, Shop, get_shop
from tests.conftest import Store, settings_for
from webhooks.backfill import Page, import_with_progress
from webhooks.http import FetchError, PlatformHttp


def _order(n: int) -> Order:
    return Order(order_id=str(n), customer_id=str(100 + n), created_at=1.7e9 + n,
                 updated_at=1.7e9 + n, cancelled=False, currency="EUR", total_price="9.50",
                 lines=(LineItem("7", None, "Mug", 1, "9.50"),))


def test_a_connect_request_works_once_and_for_its_platform_only(store: Store) -> None:
    async def run(redis: aioredis.Redis) -> None:
        nonce = await common.begin(redis, "woocommerce", {"store": "https://a.example"})
        assert len(nonce) >= 32
        assert await common.take(redis, "ecwid", nonce) is None  # another platform's
        assert await common.peek(redis, "woocommerce", nonce) == {"store": "https://a.example"}
        assert await common.take(redis, "woocommerce", nonce) == {"store": "https://a.example"}
        assert await common.take(redis, "woocommerce", nonce) is None  # spent
        assert await common.take(redis, "woocommerce", "forged-" + nonce) is None
        assert await common.take(redis, "woocommerce", "") is None
        assert await common.take(redis, "woocommerce", "x" * 500) is None
        other = await common.begin(redis, "woocommerce", {})
        pending = await redis.keys(f"{keys.PREFIX}:connect:pending:woocommerce:*")
        assert all(other not in text(key) for key in pending)  # kept only as a digest
        assert 0 < await redis.ttl(pending[0]) <= keys.CONNECT_PENDING_SECONDS

    store.run(run)


def test_a_code_is_accepted_once(store: Store) -> None:
    async def run(redis: aioredis.Redis) -> tuple[bool, bool, bool]:
        code = f"code-{time.monotonic_ns()}"
        return (await common.first_use(redis, "ecwid", code),
                await common.first_use(redis, "ecwid", code),
                await common.first_use(redis, "bigcommerce", code))

    assert store.run(run) == (True, False, True)


def test_registering_adds_a_shop_then_reconnects_it(store: Store) -> None:
    settings = settings_for(store, public_url="https://reco.example.com")
    domain = f"shop{time.monotonic_ns()}.example.com"

    async def run(redis: aioredis.Redis) -> tuple[common.Registered, common.Registered]:
        first = await common.register(
            redis, settings, "woocommerce", domain,
            PlatformAccess(api_base=f"https://{domain}/wp-json/wc/v3", api_user="ck_1",
                           api_token=Secret("cs_1")),
            webhook_secret="whsec", storefront_url=f"https://{domain}", currency="EUR")
        await mark_uninstalled(redis, first.shop.shop_id, time.time())
        again = await common.register(
            redis, settings, "woocommerce", domain,
            PlatformAccess(api_user="ck_2", api_token=Secret("cs_2")),
            webhook_secret="whsec", storefront_url=f"https://{domain}")
        rotated = await common.register(
            redis, settings, "woocommerce", domain, PlatformAccess(api_token=Secret("cs_3")),
            webhook_secret="whsec-2", storefront_url=f"https://{domain}")
        assert [s.reveal() for s in rotated.shop.webhook_secrets] == ["whsec-2", "whsec"]
        return first, again

    first, again = store.run(run)
    assert first.new and first.api_key and first.api_key.startswith("sk_")
    assert first.shop.shop_id == domain.replace(".", "-")
    assert first.shop.origins == (f"https://{domain}",) and first.shop.currency == "EUR"
    assert not again.new and again.api_key is None and again.shop.shop_id == first.shop.shop_id
    assert again.shop.uninstalled_at is None
    assert (again.shop.access.api_user, again.shop.access.api_token.reveal()) == ("ck_2", "cs_2")


def test_a_free_shop_id_is_made_from_the_domain(store: Store) -> None:
    async def run(redis: aioredis.Redis) -> list[str]:
        return [await common.free_shop_id(redis, "My.Shop.example:8443/store"),
                await common.free_shop_id(redis, "...")]

    assert store.run(run) == ["my-shop-example-8443-store", "shop"]


def _new_shop(store: Store) -> Shop:
    settings = settings_for(store)
    domain = f"imp{time.monotonic_ns()}.example.com"
    return store.run(lambda r: common.register(
        r, settings, "woocommerce", domain, PlatformAccess(api_token=Secret("cs")), "whsec",
        f"https://{domain}")).shop


def test_the_import_notes_its_progress_and_ends_done(store: Store) -> None:
    shop = _new_shop(store)

    async def source(http: PlatformHttp, shop: Shop, cursor: str | None
                     ) -> AsyncIterator[Page]:
        yield Page([_order(1), _order(2)], "page-2", total=3)
        yield Page([_order(3)], None, total=3)

    async def run(redis: aioredis.Redis) -> dict[str, object]:
        http = PlatformHttp()
        try:
            await import_with_progress(redis, http, shop.shop_id, source, common.record,
                                       common.IMPORT_STAGES)
        finally:
            await http.aclose()
        return await common.connection(redis, shop.shop_id)

    found = store.run(run)
    assert (found["stage"], found["orders"], found["total"]) == ("done", "3", "3")
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 3


def test_the_import_stops_when_the_shop_is_disconnected_or_the_platform_fails(
        store: Store) -> None:
    stopped, failing = _new_shop(store), _new_shop(store)

    async def uninstalling(http: PlatformHttp, shop: Shop, cursor: str | None
                           ) -> AsyncIterator[Page]:
        yield Page([_order(1)], "next")
        await mark_uninstalled(http_redis[0], shop.shop_id, time.time())
        yield Page([_order(2)], None)

    async def broken(http: PlatformHttp, shop: Shop, cursor: str | None) -> AsyncIterator[Page]:
        yield Page([_order(1)], "next")
        raise FetchError("https://store.example/orders answered 500", status=500)

    http_redis: list[aioredis.Redis] = []

    async def run(redis: aioredis.Redis) -> tuple[dict[str, object], dict[str, object]]:
        http_redis.append(redis)
        http = PlatformHttp()
        try:
            await import_with_progress(redis, http, stopped.shop_id, uninstalling, common.record,
                                       common.IMPORT_STAGES)
            await import_with_progress(redis, http, failing.shop_id, broken, common.record,
                                       common.IMPORT_STAGES)
        finally:
            await http.aclose()
        return (await common.connection(redis, stopped.shop_id),
                await common.connection(redis, failing.shop_id))

    first, second = store.run(run)
    # the second page never came, and the import does not claim it finished
    assert first["stage"] == "importing" and first["orders"] == "1"
    assert store.run(lambda r: r.hlen(keys.orders(stopped.shop_id))) == 1
    assert second["stage"] == "import stopped" and "answered 500" in str(second["error"])
    stopped_again = store.run(lambda r: get_shop(r, stopped.shop_id))
    assert stopped_again is not None and stopped_again.uninstalled_at is not None


def test_the_record_keeps_lists_as_json(store: Store) -> None:
    shop = _new_shop(store)

    async def run(redis: aioredis.Redis) -> dict[str, object]:
        await common.record(redis, shop.shop_id, platform="woocommerce",
                            hooks=[{"id": "5", "topic": "order.created"}], stage="x")
        await redis.hset(keys.connection(shop.shop_id), "scripts", "not json")
        return await common.connection(redis, shop.shop_id)

    found = store.run(run)
    assert found["hooks"] == [{"id": "5", "topic": "order.created"}]
    assert found["scripts"] == [] and found["platform"] == "woocommerce"


def test_progress_links_are_signed_and_expire() -> None:
    link = common.progress_link("my-shop")
    params = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    assert common.check_progress_link("my-shop", params["exp"], params["sig"])
    assert not common.check_progress_link("other-shop", params["exp"], params["sig"])
    assert not common.check_progress_link("my-shop", str(int(params["exp"]) + 1), params["sig"])
    past = int(time.time()) - 1
    assert not common.check_progress_link("my-shop", str(past),
                                          common.progress_signature("my-shop", past))
    assert not common.check_progress_link("my-shop", "soon", params["sig"])


def test_the_landing_page_escapes_and_shows_the_key_once(store: Store) -> None:
    shop = _new_shop(store)
    page = common.landing(shop, "Woo<b>", "sk_<x>", "https://reco.example.com/admin/login?t=1",
                          "Install <em>the plugin</em>", new=True)
    body = bytes(page.body).decode()
    assert "Woo&lt;b&gt;" in body and "sk_&lt;x&gt;" in body
    assert "Install <em>the plugin</em>" in body  # the connector's own HTML
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    known = bytes(common.landing(shop, "Woo", None, None, "", new=False).body).decode()
    assert "api-key" not in known and "dashboard" not in known and "Connected again" in known
