"""`shopreco shops add|list|new-api-key|origins|rate-limit` (plugin/commands/shops.py): the keys
shown once, no secrets listed, the API key stored hashed, refusals, widget origins, the API rate
limit."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from plugin.store.shops import get_shop
from tests.conftest import Store
from tests.plugin.commands.conftest import Cli


def test_shops_add_prints_the_contract_json(cli: Cli) -> None:
    result = cli("shops", "add", "cli-one", "--platform", "shopify",
                 "--domain", "cli-one.myshopify.com", "--webhook-secret", "s3cret")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["webhook_secret"] == "s3cret"
    assert shown["webhook_url"] == "https://reco.example.com/webhooks/shopify"
    assert shown["api_key"].startswith("sk_") and shown["widget_key"].startswith("wk_")


def test_shops_list_shows_no_secrets(cli: Cli) -> None:
    added = json.loads(cli("shops", "add", "cli-three", "--platform", "shopify",
                           "--domain", "cli-three.myshopify.com").stdout)
    listed = cli("shops", "list")
    assert listed.returncode == 0
    assert "cli-three" in [s["shop_id"] for s in json.loads(listed.stdout)]
    assert added["api_key"] not in listed.stdout and added["webhook_secret"] not in listed.stdout


def test_api_key_is_stored_hashed(cli: Cli, store: Store) -> None:
    added = json.loads(cli("shops", "add", "cli-four", "--platform", "shopify",
                           "--domain", "cli-four.myshopify.com").stdout)

    async def dump(redis):  # every value of every key of the shop
        values = []
        async for key in redis.scan_iter(match="shopreco:*"):
            if await redis.type(key) == b"hash":
                values += (await redis.hgetall(key)).values()
            elif await redis.type(key) == b"string":
                values.append(await redis.get(key))
        return b" ".join(values) + b" ".join([k async for k in redis.scan_iter()])

    assert added["api_key"].encode() not in store.run(dump)


def test_duplicate_shop_is_refused_with_a_clear_message(cli: Cli) -> None:
    args = ("shops", "add", "cli-five", "--platform", "shopify", "--domain", "cli-5.myshopify.com")
    assert cli(*args).returncode == 0
    again = cli(*args)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_new_api_key_replaces_the_old_one(cli: Cli, base_url: str) -> None:
    old = json.loads(cli("shops", "add", "cli-six", "--platform", "shopify",
                         "--domain", "cli-6.myshopify.com").stdout)["api_key"]
    new = json.loads(cli("shops", "new-api-key", "cli-six").stdout)["api_key"]
    url = f"{base_url}/api/v1/shops/cli-six/recommendations/trending"
    assert httpx.get(url, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {new}"}).status_code == 200


# ---- written for this module ------------------------------------------------------------------


def new_id() -> str:
    return "c-" + uuid.uuid4().hex[:12]


def test_add_stores_every_option_and_list_shows_them(cli: Cli, store: Store) -> None:
    shop_id = new_id()
    added = cli("shops", "add", shop_id, "--platform", "woocommerce",
                "--domain", f"{shop_id}.example", "--storefront-url", "https://www.example.org/",
                "--currency", "EUR", "--locale", "de-de", "--origin", "https://app.example",
                "--store-id", "store-9", "--api-base", "https://shop.example/wp-json/wc/v3",
                "--api-user", "ck_user", "--api-token", "cs_token")
    assert added.returncode == 0, added.stderr
    assert "cs_token" not in added.stdout  # the platform token is not one of the keys shown
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None
    assert (shop.platform, shop.currency, shop.locale, shop.origins) == (
        "woocommerce", "EUR", "de-DE", ("https://app.example",))
    assert (shop.access.store_ref, shop.access.api_base, shop.access.api_user) == (
        "store-9", "https://shop.example/wp-json/wc/v3", "ck_user")
    assert shop.access.api_token.reveal() == "cs_token"
    listed = next(s for s in cli("shops", "list").json() if s["shop_id"] == shop_id)
    assert listed == {"shop_id": shop_id, "platform": "woocommerce",
                      "domain": f"{shop_id}.example", "widget_key": shop.widget_key,
                      "storefront_url": shop.storefront_url, "currency": "EUR",
                      "locale": "de-DE", "origins": ["https://app.example"]}


def test_an_unknown_platform_is_a_usage_error(cli: Cli) -> None:
    with pytest.raises(SystemExit) as usage:
        cli("shops", "add", new_id(), "--platform", "magento", "--domain", "m.example")
    assert usage.value.code == 2


def test_origins_adds_removes_and_shows_what_is_allowed(cli: Cli, store: Store) -> None:
    shop_id = new_id()
    assert cli("shops", "add", shop_id, "--platform", "custom",
               "--domain", f"{shop_id}.example.com").returncode == 0
    added = cli("shops", "origins", shop_id, "--add", "https://A.example/",
                "--add", "https://b.example:8443").json()
    assert added["origins"] == ["https://a.example", "https://b.example:8443"]
    removed = cli("shops", "origins", shop_id, "--remove", "https://a.example").json()
    assert removed == {"shop_id": shop_id, "origins": ["https://b.example:8443"],
                       "allowed": sorted({"https://b.example:8443",
                                          f"https://{shop_id}.example.com"})}
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.origins == ("https://b.example:8443",)


def test_new_api_key_of_an_unknown_shop_fails(cli: Cli) -> None:
    result = cli("shops", "new-api-key", "no-such-shop")
    assert result.returncode == 1 and "'no-such-shop' does not exist" in result.stderr
    assert result.stdout == ""


def test_rate_limit_sets_shows_and_resets_a_shops_api_limit(cli: Cli, store: Store) -> None:
    shop_id = new_id()
    assert cli("shops", "add", shop_id, "--platform", "custom",
               "--domain", f"{shop_id}.example.com").returncode == 0
    shown = cli("shops", "rate-limit", shop_id, SHOPRECO_API_RATE_PER_MINUTE="900").json()
    assert shown == {"shop_id": shop_id, "api_rate_per_minute": 900,
                     "set_by": "SHOPRECO_API_RATE_PER_MINUTE"}
    assert cli("shops", "rate-limit", shop_id, "--per-minute", "5").json() == {
        "shop_id": shop_id, "api_rate_per_minute": 5, "set_by": "shop"}
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.api_rate_per_minute == 5
    assert cli("shops", "rate-limit", shop_id).json()["api_rate_per_minute"] == 5
    reset = cli("shops", "rate-limit", shop_id, "--default").json()
    assert reset == {"shop_id": shop_id, "api_rate_per_minute": 600,
                     "set_by": "SHOPRECO_API_RATE_PER_MINUTE"}
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.api_rate_per_minute is None


def test_rate_limit_refusals(cli: Cli) -> None:
    shop_id = new_id()
    assert cli("shops", "add", shop_id, "--platform", "custom",
               "--domain", f"{shop_id}.example.com").returncode == 0
    zero = cli("shops", "rate-limit", shop_id, "--per-minute", "0")
    assert zero.returncode == 1 and "1 to 1000000000 calls a minute, got 0" in zero.stderr
    unknown = cli("shops", "rate-limit", "no-such-shop", "--per-minute", "5")
    assert unknown.returncode == 1 and "'no-such-shop' does not exist" in unknown.stderr
    assert cli("shops", "rate-limit", "no-such-shop").returncode == 1
    with pytest.raises(SystemExit) as usage:
        cli("shops", "rate-limit", shop_id, "--per-minute", "5", "--default")
    assert usage.value.code == 2
