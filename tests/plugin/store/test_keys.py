"""Every Redis key (plugin.store.keys): a shop's keys share its hash tag and match its SCAN
pattern, no other shop's; a shop id outside the pattern is refused before a key is built."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from fnmatch import fnmatchcase

import pytest

from plugin.store import keys

SHOP = "shop-1"


def per_shop_keys(shop_id: str) -> dict[str, str]:
    """Every per-shop key builder of the module, called with `shop_id` (and "x" for the rest)."""
    built = {}
    for name, builder in inspect.getmembers(keys, inspect.isfunction):
        parameters = list(inspect.signature(builder).parameters)
        if name.startswith("_") or not parameters or parameters[0] != "shop_id" \
                or name == "shop_pattern":
            continue
        built[name] = builder(shop_id, *(["x"] * (len(parameters) - 1)))
    return built


def test_there_are_per_shop_keys_to_check() -> None:
    assert {"orders", "events", "shop_config", "changes", "widget_rate"} <= set(
        per_shop_keys(SHOP))


def test_a_shops_keys_share_its_hash_tag_and_match_its_pattern_only() -> None:
    built = per_shop_keys(SHOP)
    assert len(set(built.values())) == len(built)  # no two kinds of data share a key
    for name, key in built.items():
        assert key.startswith(f"shopreco:{{{SHOP}}}:"), name
        assert fnmatchcase(key, keys.shop_pattern(SHOP)), name
        assert not fnmatchcase(key, keys.shop_pattern("shop-2")), name
        assert not fnmatchcase(key, keys.shop_pattern("shop")), name


def test_global_keys_match_no_shops_pattern() -> None:
    for key in (keys.SHOPS, keys.MIGRATIONS, keys.TRAIN_REQUESTS, keys.TRAINER_ALIVE,
                keys.domain_index("shopify", "a.myshopify.com"), keys.api_key_index("ab"),
                keys.widget_key_index("wk_1"), keys.admin_login("d"), keys.admin_session("d"),
                keys.shopify_code("d")):
        assert not fnmatchcase(key, keys.shop_pattern(SHOP)), key
        assert not fnmatchcase(key, keys.shop_pattern("*")), key


@pytest.mark.parametrize("shop_id", ["", "Shop", "-shop", "a" * 64, "shop}x", "shop:1", "shop 1",
                                     "shöp"])
def test_a_shop_id_outside_the_pattern_is_refused(shop_id: str) -> None:
    builders: list[Callable[..., str]] = [keys.orders, keys.shop_config, keys.changes]
    for builder in builders:
        with pytest.raises(ValueError, match="shop id must match"):
            builder(shop_id)


def test_the_longest_and_shortest_shop_ids_are_accepted() -> None:
    assert keys.orders("a" * 63) == f"shopreco:{{{'a' * 63}}}:orders"
    assert keys.orders("0") == "shopreco:{0}:orders"
    assert keys.orders("a_b-9") == "shopreco:{a_b-9}:orders"


def test_a_domain_is_looked_up_in_lower_case() -> None:
    assert keys.domain_index("shopify", "Shop.MyShopify.com") == \
        keys.domain_index("shopify", "shop.myshopify.com")
    assert keys.domain_index("shopify", "a.com") != keys.domain_index("woocommerce", "a.com")


def test_a_shop_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="shop id must match"):
        keys.orders("shop\n")
