"""The demo catalog as data (plugin.demo.catalog): titles from the specs and their variants,
enumerated so that the first N cover as many groups as possible, with sane price ranges, a
consumable in every category and order shares that add up."""

from __future__ import annotations

from plugin.demo.artwork import slugify
from plugin.demo.catalog import CATEGORY_SHARE, SPECS, Spec, catalog_entries, catalog_size


def test_a_spec_gives_one_title_per_variant_or_its_template() -> None:
    plain = Spec("g", "Tea", "Bamboo Whisk", (5, 8))
    varied = Spec("g", "Tea", "{v} Matcha 30 g", (18, 32), ("Uji", "Kagoshima"), 30)
    assert plain.titles() == ["Bamboo Whisk"]
    assert varied.titles() == ["Uji Matcha 30 g", "Kagoshima Matcha 30 g"]


def test_every_title_is_listed_once_and_the_size_is_their_number() -> None:
    entries = catalog_entries()
    assert len(entries) == catalog_size() == sum(len(spec.titles()) for spec in SPECS)
    titles = [title for _spec, title in entries]
    assert len(set(titles)) == len(titles)
    handles = {slugify(title) for title in titles}  # product pages are found by handle
    assert len(handles) == len(titles)


def test_the_entries_take_one_title_of_each_spec_round_by_round() -> None:
    """The first len(SPECS) cover every spec (so every group), then the second variants..."""
    entries = catalog_entries()
    assert [spec for spec, _title in entries[:len(SPECS)]] == list(SPECS)
    assert [title for _spec, title in entries[:len(SPECS)]] == [s.titles()[0] for s in SPECS]
    second_round = [spec.titles()[1] for spec in SPECS if len(spec.titles()) > 1]
    assert [title for _spec, title in entries[len(SPECS):len(SPECS) + len(second_round)]] == \
        second_round
    assert [title for spec, title in entries if spec is SPECS[2]] == SPECS[2].titles()


def test_each_products_entry_keeps_its_spec_and_title_together() -> None:
    for spec, title in catalog_entries():
        assert title in spec.titles()


def test_price_ranges_are_shop_like_and_consumables_rebuy_within_two_months() -> None:
    for spec in SPECS:
        low, high = spec.price_range
        assert 3 <= low < high <= 150, spec
        assert spec.cycle_days is None or 14 <= spec.cycle_days <= 60, spec


def test_order_shares_cover_every_category_and_add_up_to_one() -> None:
    categories = {spec.category for spec in SPECS}
    assert set(CATEGORY_SHARE) == categories and len(categories) == 7
    assert abs(sum(CATEGORY_SHARE.values()) - 1.0) < 1e-9
    assert max(CATEGORY_SHARE, key=CATEGORY_SHARE.__getitem__) == "Coffee"


def test_every_category_has_a_consumable_for_subscriber_like_customers() -> None:
    for category in CATEGORY_SHARE:
        assert any(spec.cycle_days for spec in SPECS if spec.category == category), category


def test_the_always_together_pair_leads_the_catalog() -> None:
    (first, dripper), (second, filters) = catalog_entries()[:2]
    assert (first.group, second.group) == ("pour-over", "pour-over")
    assert "Dripper" in dripper and "Filters" in filters
