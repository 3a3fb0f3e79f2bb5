"""The generated assortment (plugin.demo.assortment): priced products from the catalog specs,
deterministic by seed, their Zipf-like popularity with the always-together pair near the top,
and the weighted pickers baskets draw from."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from plugin.demo.artwork import render_product_svg, slugify
from plugin.demo.assortment import (
    FIRST_PRODUCT_ID,
    Catalog,
    Picker,
    build_items,
    cents_to_str,
    popularity,
)
from plugin.demo.catalog import CATEGORY_SHARE, catalog_entries, catalog_size


def items(seed: int = 7, n: int = 120) -> list:
    return build_items(np.random.default_rng(seed), n)


def catalog(seed: int = 7, n: int = 120) -> Catalog:
    rng = np.random.default_rng(seed)
    built = build_items(rng, n)
    return Catalog(built, popularity(rng, len(built)))


def test_cents_are_written_with_two_decimals() -> None:
    assert [cents_to_str(c) for c in (1290, 5, 300, 15_000, 1000)] == [
        "12.90", "0.05", "3.00", "150.00", "10.00"]


def test_the_same_seed_builds_the_same_products_another_seed_other_prices() -> None:
    assert items(3) == items(3)
    assert [i.product.price for i in items(3)] != [i.product.price for i in items(4)]
    assert [i.product.title for i in items(3)] == [i.product.title for i in items(4)]


def test_products_follow_the_catalog_with_consecutive_ids_handles_and_tiles() -> None:
    built = items(n=30)
    entries = catalog_entries()[:30]
    assert [int(i.product.product_id) for i in built] == list(
        range(FIRST_PRODUCT_ID, FIRST_PRODUCT_ID + 30))
    for item, (spec, title) in zip(built, entries, strict=True):
        assert (item.product.title, item.product.category) == (title, spec.category)
        assert (item.group, item.cycle_days) == (spec.group, spec.cycle_days)
        assert item.product.handle == slugify(title)
        assert item.product.image_svg == render_product_svg(title, spec.category)
    assert len(items(n=catalog_size())) == catalog_size()


def test_prices_look_like_a_shops_and_stay_in_their_specs_range() -> None:
    for seed in range(5):
        for item, (spec, _title) in zip(items(seed, catalog_size()), catalog_entries(),
                                        strict=True):
            whole, cents = item.product.price.split(".")
            low, high = spec.price_range
            assert int(low) <= int(whole) <= int(high), (item, spec.price_range)
            assert len(cents) == 2
            assert cents in (("90", "50", "95", "00") if int(whole) < 40 else ("00", "90"))
            assert 3.0 <= float(item.product.price) <= 150.0


def test_popularity_is_a_zipf_ranking_with_the_pair_third_and_sixth() -> None:
    for seed in range(5):
        weights = popularity(np.random.default_rng(seed), 120)
        ranks = np.argsort(np.argsort(-weights))
        assert (ranks[0], ranks[1]) == (2, 5)
        np.testing.assert_allclose(np.sort(weights)[::-1], 1 / np.arange(1, 121) ** 1.05)
    assert len(popularity(np.random.default_rng(1), 2)) == 2  # a pair too small to move


def test_a_picker_chooses_in_proportion_to_the_weights() -> None:
    picker = Picker(["a", "b", "c"], [1.0, 3.0, 0.0])
    assert [picker.pick(u) for u in (0.0, 0.2499, 0.25, 0.9999)] == ["a", "a", "b", "b"]
    counts = Counter(picker.pick(u) for u in np.random.default_rng(1).random(20_000))
    assert counts["c"] == 0
    assert counts["b"] / counts["a"] == pytest.approx(3.0, rel=0.1)


def test_the_catalogs_pickers_draw_from_their_own_products_only() -> None:
    shop = catalog()
    rng = np.random.default_rng(2)
    for group, picker in shop.by_group.items():
        assert picker is not None and {shop.items[i].group for i in picker.keys} == {group}
    for category in shop.categories:
        by_category, staples = shop.by_category[category], shop.staples[category]
        assert by_category is not None and staples is not None
        assert {shop.items[i].product.category for i in by_category.keys} == {category}
        assert all(shop.items[i].cycle_days for i in staples.keys)
        groups = {shop.items[i].group for i in by_category.keys}
        assert set(shop.group_pickers[category].keys) == groups
        assert shop.group_pickers[category].pick(float(rng.random())) in groups
    assert shop.everything is not None and len(shop.everything.keys) == 120
    drawn = Counter(shop.category_picker.pick(u) for u in rng.random(20_000))
    for category, share in CATEGORY_SHARE.items():
        assert drawn[category] / 20_000 == pytest.approx(share, abs=0.02)


def test_popular_products_are_picked_more_often() -> None:
    shop = catalog()
    assert shop.everything is not None
    drawn = Counter(shop.everything.pick(u) for u in np.random.default_rng(3).random(20_000))
    top, bottom = int(np.argmax(shop.weights)), int(np.argmin(shop.weights))
    assert drawn[top] > 20 * max(drawn[bottom], 1)


def test_a_sibling_staple_is_another_consumable_of_the_same_group() -> None:
    shop = catalog()
    beans = next(i for i, item in enumerate(shop.items) if "Coffee Beans" in item.product.title)
    siblings = {shop.sibling_staple(beans, u) for u in np.linspace(0, 0.999, 50)}
    assert beans not in siblings and len(siblings) > 1
    assert all(shop.items[s].group == shop.items[beans].group and shop.items[s].cycle_days
               for s in siblings)
    oil = next(i for i, item in enumerate(shop.items) if "Board Oil" in item.product.title)
    assert shop.sibling_staple(oil, 0.5) == oil  # the knives' only consumable: itself
