"""Shops (plugin.store.shops): registration and its refusals, lookups by domain, store id, widget
key and API key, key and secret rotation, locale and widget origins (also through the CLI),
older stored shops."""

from __future__ import annotations

import json
import uuid

import pytest

from plugin.config import Secret
from plugin.store import keys
from plugin.store.cache import ShopCache
from plugin.store.shops import (
    NewShop,
    PlatformAccess,
    Shop,
    ShopError,
    add_shop,
    allowed_origins,
    get_shop,
    hash_api_key,
    issue_api_key,
    list_shops,
    parse_locale,
    parse_origin,
    reinstall,
    rotate_webhook_secret,
    set_api_rate,
    set_storefront_url,
    shop_by_domain,
    shop_by_widget_key,
    shop_ids,
)
from tests.plugin.store.test_attribution import shopreco


def new_id() -> str:
    return "o-" + uuid.uuid4().hex[:12]


def test_shops_add_takes_origins_and_locale(store) -> None:
    shop_id = new_id()
    added = shopreco(store, "shops", "add", shop_id, "--platform", "custom",
                     "--domain", f"{shop_id}.example.com", "--locale", "fr-fr",
                     "--origin", "https://www.Example.com/", "--origin", "http://localhost:3000")
    assert added.returncode == 0, added.stderr
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.locale == "fr-FR"
    assert shop.origins == ("https://www.example.com", "http://localhost:3000")
    listed = json.loads(shopreco(store, "shops", "list").stdout)
    assert next(s for s in listed if s["shop_id"] == shop_id)["locale"] == "fr-FR"


def test_shops_origins_adds_removes_and_prints(store) -> None:
    shop_id = new_id()
    assert shopreco(store, "shops", "add", shop_id, "--platform", "custom",
                    "--domain", f"{shop_id}.example.com").returncode == 0
    added = shopreco(store, "shops", "origins", shop_id, "--add", "https://a.example",
                     "--add", "https://b.example:8443")
    assert json.loads(added.stdout)["origins"] == ["https://a.example", "https://b.example:8443"]
    removed = json.loads(shopreco(store, "shops", "origins", shop_id, "--remove",
                                  "https://a.example").stdout)
    assert removed["origins"] == ["https://b.example:8443"]
    assert f"https://{shop_id}.example.com" in removed["allowed"]
    listed = json.loads(shopreco(store, "shops", "origins", shop_id).stdout)
    assert listed["origins"] == ["https://b.example:8443"]


@pytest.mark.parametrize("bad", ["https://shop.example/path", "shop.example", "ftp://shop.example",
                                 "https://", "https://shop.example:port"])
def test_bad_origin_is_refused_with_a_clear_error(store, bad) -> None:
    shop_id = new_id()
    result = shopreco(store, "shops", "add", shop_id, "--platform", "custom",
                      "--domain", f"{shop_id}.example.com", "--origin", bad)
    assert result.returncode == 1 and "scheme://host[:port]" in result.stderr
    assert store.run(lambda r: get_shop(r, shop_id)) is None


def test_origins_of_an_unknown_shop_fail(store) -> None:
    result = shopreco(store, "shops", "origins", "no-such-shop", "--add", "https://a.example")
    assert result.returncode == 1 and "no-such-shop" in result.stderr


def test_bad_locale_is_refused() -> None:
    with pytest.raises(ShopError, match="--locale"):
        parse_locale("english please")
    assert parse_locale("en-ie") == "en-IE" and parse_locale("zh-Hant-TW") == "zh-Hant-TW"


def test_origin_is_normalised() -> None:
    assert parse_origin(" HTTPS://Shop.Example:8443/ ") == "https://shop.example:8443"


def test_shop_stored_before_locale_and_origins_still_loads(store, make_shop) -> None:
    new = make_shop()
    shop_id = new.shop.shop_id
    store.run(lambda r: r.hdel(keys.shop_config(shop_id), "locale", "origins"))
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.locale == "en-US" and shop.origins == ()
    assert allowed_origins(shop) == {f"https://{new.shop.domain}"}


# ---- registration, lookups, rotation (in-process, on the embedded Redis) ---------------------


def register(store, shop_id: str, platform: str = "shopify", domain: str | None = None,
             **kwargs) -> NewShop:
    return store.run(lambda r: add_shop(r, shop_id, platform, domain or f"{shop_id}.example",
                                        "https://reco.example/", **kwargs))


def test_a_registered_shop_is_found_by_id_domain_store_id_and_widget_key(store) -> None:
    shop_id = new_id()
    new = register(store, shop_id, "bigcommerce", f"{shop_id}.Example.COM ",
                   access=PlatformAccess(store_ref=f"hash-{shop_id}"), currency="eur")

    async def work(redis) -> list[Shop | None]:
        return [await get_shop(redis, shop_id),
                await shop_by_domain(redis, "bigcommerce", f"{shop_id}.example.com"),
                await shop_by_domain(redis, "bigcommerce", f"HASH-{shop_id}"),
                await shop_by_widget_key(redis, new.shop.widget_key),
                await shop_by_domain(redis, "shopify", f"{shop_id}.example.com"),
                await shop_by_widget_key(redis, "wk_nobody"),
                await get_shop(redis, "t-no-such-shop"), await get_shop(redis, "Not An Id")]

    found = store.run(work)
    assert found[4:] == [None] * 4
    for shop in found[:4]:  # Secret has no equality: the fields it is not
        assert shop is not None and shop.shop_id == shop_id
        assert (shop.domain, shop.widget_key, shop.api_key_hash, shop.access.store_ref) == (
            new.shop.domain, new.shop.widget_key, new.shop.api_key_hash, f"hash-{shop_id}")
        assert shop.webhook_secrets[0].reveal() == new.shop.webhook_secrets[0].reveal()
    assert new.shop.domain == f"{shop_id}.example.com" and new.shop.currency == "EUR"
    assert new.shop.storefront_url == f"https://{shop_id}.example.com"
    assert new.shop.accepts_api_key(new.api_key) and not new.shop.accepts_api_key("sk_other")
    assert new.webhook_url == f"https://reco.example/webhooks/bigcommerce/{shop_id}"
    assert new.shop.webhook_secrets[0].reveal().startswith("whsec_")
    assert shop_id in store.run(shop_ids)
    assert shop_id in [shop.shop_id for shop in store.run(list_shops)]


def test_shared_webhook_urls_and_plain_secrets_per_platform(store) -> None:
    shopify = register(store, new_id())
    woo = register(store, new_id(), "woocommerce", webhook_secret="given")
    assert shopify.webhook_url == "https://reco.example/webhooks/shopify"
    assert len(shopify.shop.webhook_secrets[0].reveal()) == 64
    assert woo.webhook_url.endswith(f"/webhooks/woocommerce/{woo.shop.shop_id}")
    assert woo.shop.webhook_secrets[0].reveal() == "given"


def test_a_taken_id_domain_or_store_id_is_refused_and_nothing_is_half_written(store) -> None:
    first = register(store, new_id(), "ecwid", access=PlatformAccess(store_ref="4242-x"))
    shop_id = new_id()
    with pytest.raises(ShopError, match="already exists"):
        register(store, first.shop.shop_id, "ecwid", domain="other.example")
    with pytest.raises(ShopError, match="already registered"):
        register(store, shop_id, "ecwid", domain=first.shop.domain.upper())
    with pytest.raises(ShopError, match="already registered"):
        register(store, shop_id, "ecwid", access=PlatformAccess(store_ref="4242-x"))
    assert store.run(lambda r: get_shop(r, shop_id)) is None
    assert store.run(lambda r: r.sismember(keys.SHOPS, shop_id)) == 0
    register(store, shop_id, "shopify", domain=first.shop.domain)  # another platform's store


@pytest.mark.parametrize(("args", "message"), [
    (("Bad Id", "shopify", "a.example"), "shop id"),
    (("ok-id", "magento", "a.example"), "platform must be one of"),
    (("ok-id", "shopify", "  "), "--domain is required"),
])
def test_a_registration_that_cannot_be_made_says_why(store, args, message) -> None:
    with pytest.raises(ShopError, match=message):
        store.run(lambda r: add_shop(r, *args, "https://reco.example"))
    with pytest.raises(ShopError, match="must not be empty"):
        register(store, new_id(), webhook_secret="")


def test_a_new_api_key_replaces_the_old_one(store) -> None:
    new = register(store, new_id())
    shop_id = new.shop.shop_id

    async def work(redis) -> tuple[str, Shop | None, bytes | None, bytes | None]:
        key = await issue_api_key(redis, shop_id)
        return (key, await get_shop(redis, shop_id),
                await redis.get(keys.api_key_index(hash_api_key(new.api_key))),
                await redis.get(keys.api_key_index(hash_api_key(key))))

    key, shop, old_index, new_index = store.run(work)
    assert shop is not None and shop.accepts_api_key(key)
    assert not shop.accepts_api_key(new.api_key)
    assert old_index is None and new_index == shop_id.encode()
    with pytest.raises(ShopError, match="does not exist"):
        store.run(lambda r: issue_api_key(r, "t-no-such-shop"))


def test_a_rotated_webhook_secret_keeps_the_previous_one_valid(store) -> None:
    new = register(store, new_id(), webhook_secret="first")
    shop_id = new.shop.shop_id

    async def work(redis) -> list[str]:
        await rotate_webhook_secret(redis, shop_id, "second")
        await rotate_webhook_secret(redis, shop_id, "third")
        shop = await get_shop(redis, shop_id)
        assert shop is not None
        return [secret.reveal() for secret in shop.webhook_secrets]

    assert store.run(work) == ["third", "second"]  # the oldest is gone
    with pytest.raises(ShopError, match="must not be empty"):
        store.run(lambda r: rotate_webhook_secret(r, shop_id, ""))
    with pytest.raises(ShopError, match="does not exist"):
        store.run(lambda r: rotate_webhook_secret(r, "t-no-such-shop", "x"))


def test_the_storefront_url_and_a_reinstall_change_the_stored_shop(store) -> None:
    new = register(store, new_id(), access=PlatformAccess(api_token=Secret("shpat_old")))
    shop_id = new.shop.shop_id

    async def work(redis) -> tuple[Shop | None, Shop | None, bytes | None]:
        await set_storefront_url(redis, shop_id, "https://www.shop.example")
        await redis.hset(keys.shop_config(shop_id), "uninstalled_at", "1700000000.0")
        uninstalled = await get_shop(redis, shop_id)
        await reinstall(redis, shop_id, "shpat_new")
        return (uninstalled, await get_shop(redis, shop_id),
                await redis.hget(keys.shop_config(shop_id), "api_token"))

    uninstalled, shop, stored_token = store.run(work)
    assert uninstalled is not None and uninstalled.uninstalled_at == 1_700_000_000.0
    assert shop is not None and shop.uninstalled_at is None
    assert shop.access.api_token.reveal() == "shpat_new"
    assert b"shpat_new" not in stored_token  # sealed at rest
    assert shop.storefront_url == "https://www.shop.example"
    assert "https://www.shop.example" in allowed_origins(shop)


def test_a_shop_in_public_json_shows_its_keys_once() -> None:
    shop = Shop("s1", "shopify", "s1.example", "https://s1.example", "EUR",
                (Secret("current"), Secret("old")), "wk_1", hash_api_key("sk_1"), 1.0)
    shown = NewShop(shop, "sk_1", "https://reco.example/webhooks/shopify")
    assert shown.as_public_json() == {
        "shop_id": "s1", "platform": "shopify", "domain": "s1.example", "api_key": "sk_1",
        "widget_key": "wk_1", "webhook_url": "https://reco.example/webhooks/shopify",
        "webhook_secret": "current"}
    assert "sk_1" not in repr(shown)


def test_an_api_rate_limit_is_stored_and_reaches_a_cache_holding_the_shop(store) -> None:
    shop_id = register(store, new_id()).shop.shop_id

    async def work(redis) -> list[int | None]:
        cache = ShopCache(redis)
        seen = []
        for per_minute in (7, None):
            before = await cache.shop(shop_id)
            await set_api_rate(redis, shop_id, per_minute)
            await cache.refresh()  # the change note drops the held shop
            after = await cache.shop(shop_id)
            assert before is not None and after is not None
            seen += [before.api_rate_per_minute, after.api_rate_per_minute]
        return seen

    assert store.run(work) == [None, 7, 7, None]


@pytest.mark.parametrize("per_minute", [0, -1, 1_000_000_001])
def test_an_api_rate_limit_out_of_range_is_refused(store, per_minute: int) -> None:
    with pytest.raises(ShopError, match="1 to 1000000000 calls a minute"):
        store.run(lambda r: set_api_rate(r, "any-shop", per_minute))


def test_an_api_rate_limit_of_an_unknown_shop_is_refused_and_makes_nothing(store) -> None:
    shop_id = new_id()
    with pytest.raises(ShopError, match="does not exist"):
        store.run(lambda r: set_api_rate(r, shop_id, 5))
    assert store.run(lambda r: r.exists(keys.shop_config(shop_id))) == 0
