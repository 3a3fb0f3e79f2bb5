"""`shopreco backfill SHOP_ID [--restart]` (plugin/commands/backfill.py): a shop's order
history imported from its platform (here a local stand-in of Shopify's Admin API), resumed
from the saved checkpoint unless --restart; a progress line on stderr, a JSON summary."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from plugin.config import Secret
from plugin.store import keys
from plugin.store.shops import NewShop, PlatformAccess, add_shop
from tests.conftest import Store
from tests.helpers import order_payload
from tests.platform_server import FakePlatformApi, Reply
from tests.plugin.commands.conftest import Cli

ADMIN = "/admin/api/2025-01"
TOKEN = "shpat_" + "7" * 32


REFUSING = "/refusing" + ADMIN


@pytest.fixture(scope="module")
def api() -> Iterator[FakePlatformApi]:
    """Under ADMIN a shop's whole history on one page: 2 orders, no products; under REFUSING
    a 401 to the first request."""
    with FakePlatformApi() as fake:
        fake.reply(f"{ADMIN}/orders/count.json", {"count": 2}, query={"status": "any"})
        fake.reply(f"{ADMIN}/orders.json",
                   {"orders": [order_payload(11, 1, [1, 2]), order_payload(12, 2, [2])]},
                   query={"status": "any", "limit": 250})
        fake.reply(f"{ADMIN}/products.json", {"products": []}, query={"limit": 250})
        fake.reply(f"{REFUSING}/orders/count.json", Reply(401, {"errors": "Invalid API key"}))
        yield fake


def shopify_shop(store: Store, api: FakePlatformApi, platform: str = "shopify",
                 admin: str = ADMIN) -> NewShop:
    shop_id = "bf-" + uuid.uuid4().hex[:12]
    access = PlatformAccess(api_base=f"{api.url}{admin}", api_token=Secret(TOKEN))
    return store.run(lambda r: add_shop(r, shop_id, platform, f"{shop_id}.myshopify.com",
                                        "http://testserver", access=access))


def stored(store: Store, shop: NewShop) -> list[str]:
    return sorted(k.decode() for k in store.run(lambda r: r.hkeys(keys.orders(shop.shop.shop_id))))


def test_imports_the_history_and_prints_a_summary(cli: Cli, store: Store,
                                                  api: FakePlatformApi) -> None:
    shop = shopify_shop(store, api)
    before = len(api.seen)
    result = cli("backfill", shop.shop.shop_id)
    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert shown["shop_id"] == shop.shop.shop_id
    assert (shown["pages"], shown["orders_seen"], shown["orders_changed"], shown["products"],
            shown["resumed_from"]) == (2, 2, 2, 0, None)
    assert stored(store, shop) == ["11", "12"]
    assert "backfilling orders" in result.stderr and "2/2" in result.stderr  # the progress
    assert TOKEN not in result.stdout + result.stderr
    assert {seen.headers["x-shopify-access-token"] for seen in api.seen[before:]} == {TOKEN}
    assert store.run(lambda r: r.exists(keys.backfill_cursor(shop.shop.shop_id))) == 0


def test_resumes_from_the_checkpoint_unless_restart(cli: Cli, store: Store,
                                                    api: FakePlatformApi) -> None:
    shop = shopify_shop(store, api)
    checkpoint = keys.backfill_cursor(shop.shop.shop_id)
    store.run(lambda r: r.set(checkpoint, "products:"))  # the orders were stored before
    before = len(api.requests_to(f"{ADMIN}/orders.json"))
    resumed = cli("backfill", shop.shop.shop_id).json()
    assert (resumed["resumed_from"], resumed["orders_seen"]) == ("products:", 0)
    assert len(api.requests_to(f"{ADMIN}/orders.json")) == before
    assert stored(store, shop) == []
    store.run(lambda r: r.set(checkpoint, "products:"))
    restarted = cli("backfill", shop.shop.shop_id, "--restart").json()
    assert (restarted["resumed_from"], restarted["orders_seen"]) == (None, 2)
    assert stored(store, shop) == ["11", "12"]


def test_a_refused_token_stops_it_in_one_line(cli: Cli, store: Store,
                                              api: FakePlatformApi) -> None:
    shop = shopify_shop(store, api, admin=REFUSING)
    result = cli("backfill", shop.shop.shop_id)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("shopreco: shopify backfill of shop")
    assert "401" in result.stderr and TOKEN not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_platform_without_backfill_and_an_unknown_shop_are_refused(
        cli: Cli, store: Store, api: FakePlatformApi) -> None:
    custom = shopify_shop(store, api, platform="custom")
    before = len(api.seen)
    result = cli("backfill", custom.shop.shop_id)
    assert result.returncode == 1
    assert "backfill is not available for custom shops" in result.stderr
    unknown = cli("backfill", "no-such-shop")
    assert unknown.returncode == 1 and "no shop 'no-such-shop'" in unknown.stderr
    assert len(api.seen) == before  # nothing asked of a platform
