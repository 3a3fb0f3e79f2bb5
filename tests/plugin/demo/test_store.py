"""The synthetic demo store: deterministic, Shopify-shaped, and with learnable structure."""

from __future__ import annotations

import itertools
import statistics
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from plugin.demo.store import (
    DemoProduct,
    DemoStore,
    generate_store,
    shopify_product_payload,
)

END = datetime(2025, 11, 20, 15, tzinfo=UTC)
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def store() -> DemoStore:
    return generate_store(end=END)


def product_ids(order: dict[str, Any]) -> set[str]:
    return {str(line["product_id"]) for line in order["line_items"]}


def created(order: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(order["created_at"])


def orders_by_customer(store: DemoStore) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for order in store.orders:
        if order["customer"] is not None:
            grouped[order["customer"]["id"]].append(order)
    return grouped


def test_same_seed_and_end_give_identical_stores() -> None:
    assert generate_store(seed=3, n_orders=400, end=END) == generate_store(
        seed=3, n_orders=400, end=END
    )


def test_different_seeds_give_different_orders() -> None:
    first = generate_store(seed=1, n_orders=400, end=END)
    second = generate_store(seed=2, n_orders=400, end=END)
    assert first.orders != second.orders


def test_default_end_is_now_so_no_order_lies_in_the_future() -> None:
    before = datetime.now(UTC)
    demo = generate_store(n_orders=200)
    assert max(created(order) for order in demo.orders) <= before
    assert min(created(order) for order in demo.orders) > before - timedelta(days=14 * 31 + 1)


def test_default_store_has_at_least_5000_orders_and_the_requested_products(
    store: DemoStore,
) -> None:
    assert len(store.orders) >= 5000
    assert len(store.products) == 120


@pytest.mark.parametrize("n_orders", [1, 2, 37, 501])
def test_exactly_the_requested_number_of_orders_is_generated(n_orders: int) -> None:
    assert len(generate_store(n_orders=n_orders, end=END).orders) == n_orders


def test_orders_span_at_least_twelve_months(store: DemoStore) -> None:
    times = [created(order) for order in store.orders]
    assert max(times) - min(times) >= timedelta(days=365)
    assert max(times) < END


def test_orders_are_sorted_by_created_at(store: DemoStore) -> None:
    times = [created(order) for order in store.orders]
    assert times == sorted(times)


def test_order_names_count_up_from_1001(store: DemoStore) -> None:
    names = [order["name"] for order in store.orders]
    assert names[:2] == ["#1001", "#1002"]
    assert names[-1] == f"#{1000 + len(store.orders)}"


def test_product_ids_are_numeric_strings_starting_at_7001(store: DemoStore) -> None:
    ids = [product.product_id for product in store.products]
    assert all(isinstance(product_id, str) and product_id.isdigit() for product_id in ids)
    assert ids[0] == "7001"
    assert len(set(ids)) == len(ids)


def test_order_ids_are_unique_ints_beyond_32_bits(store: DemoStore) -> None:
    ids = [order["id"] for order in store.orders]
    assert all(isinstance(order_id, int) and order_id > 2**32 for order_id in ids)
    assert len(set(ids)) == len(ids)


def test_line_item_ids_are_unique_and_variants_follow_the_product(store: DemoStore) -> None:
    lines = [line for order in store.orders for line in order["line_items"]]
    assert len({line["id"] for line in lines}) == len(lines)
    assert all(line["variant_id"] == line["product_id"] * 10 + 1 for line in lines)
    assert all(line["sku"] == f"SKU-{line['product_id']}" for line in lines)


def test_line_items_match_the_catalog(store: DemoStore) -> None:
    catalog = {product.product_id: product for product in store.products}
    for order in store.orders:
        for line in order["line_items"]:
            product = catalog[str(line["product_id"])]
            assert (line["title"], line["price"]) == (product.title, product.price)
            assert 1 <= line["quantity"] <= 3


def test_always_together_pair_co_occurs_in_95_percent_of_baskets_with_either(
    store: DemoStore,
) -> None:
    first, second = store.always_together
    either = [order for order in store.orders if product_ids(order) & {first, second}]
    both = [order for order in either if {first, second} <= product_ids(order)]
    assert len(both) >= 0.95 * len(either)


def test_always_together_pair_appears_in_at_least_3_percent_of_orders(store: DemoStore) -> None:
    pair = set(store.always_together)
    both = sum(1 for order in store.orders if pair <= product_ids(order))
    assert both >= 0.03 * len(store.orders)


def test_customer_count_is_realistic_for_the_order_count(store: DemoStore) -> None:
    assert 2000 <= len(orders_by_customer(store)) <= 3000


def test_at_least_30_percent_of_customers_buy_again(store: DemoStore) -> None:
    counts = [len(orders) for orders in orders_by_customer(store).values()]
    assert sum(1 for count in counts if count >= 2) >= 0.30 * len(counts)
    assert max(counts) >= 10  # heavy tail


def test_a_few_percent_are_guest_orders(store: DemoStore) -> None:
    guests = sum(1 for order in store.orders if order["customer"] is None)
    assert 0.01 * len(store.orders) <= guests <= 0.06 * len(store.orders)


def test_customers_look_like_shopify_customers(store: DemoStore) -> None:
    customer = next(order["customer"] for order in store.orders if order["customer"])
    number = customer["id"] - 6_200_000_000_000
    assert customer["email"] == f"customer{number}@example.com"
    assert customer["first_name"] and customer["last_name"]


def test_total_price_equals_the_sum_of_the_lines(store: DemoStore) -> None:
    for order in store.orders:
        lines = sum(Decimal(line["price"]) * line["quantity"] for line in order["line_items"])
        assert Decimal(order["total_price"]) == lines
        assert order["subtotal_price"] == order["total_price"]


def test_cancelled_orders_are_rare_voided_and_updated_when_cancelled(store: DemoStore) -> None:
    cancelled = [order for order in store.orders if order["cancelled_at"] is not None]
    assert 0 < len(cancelled) <= 0.03 * len(store.orders)
    for order in cancelled:
        assert order["financial_status"] == "voided"
        assert order["updated_at"] == order["cancelled_at"]
        assert datetime.fromisoformat(order["cancelled_at"]) > created(order)


def test_timestamps_are_iso_8601_with_an_offset(store: DemoStore) -> None:
    order = store.orders[0]
    for key in ("created_at", "updated_at", "processed_at"):
        assert datetime.fromisoformat(order[key]).utcoffset() is not None


def test_november_and_december_are_busier_than_average(store: DemoStore) -> None:
    months = Counter(created(order).strftime("%Y-%m") for order in store.orders)
    full_months = [count for month, count in months.items() if month not in {"2024-09", "2025-11"}]
    assert months["2024-12"] > statistics.mean(full_months)


def test_later_orders_resemble_earlier_ones(store: DemoStore) -> None:
    category = {product.product_id: product.category for product in store.products}
    shared = total = 0
    for orders in orders_by_customer(store).values():
        for earlier, later in itertools.pairwise(orders):
            total += 1
            shared += bool(
                {category[p] for p in product_ids(earlier)}
                & {category[p] for p in product_ids(later)}
            )
    assert shared >= 0.6 * total


def test_consumables_are_rebought_on_a_cycle_of_a_few_weeks(store: DemoStore) -> None:
    cycles = []
    for orders in orders_by_customer(store).values():
        bought: dict[str, list[datetime]] = defaultdict(list)
        for order in orders:
            for product_id in product_ids(order):
                bought[product_id].append(created(order))
        for times in bought.values():
            if len(times) >= 4:
                gaps = [(later - earlier).days for earlier, later in itertools.pairwise(times)]
                cycles.append(statistics.median(gaps))
    assert sum(1 for days in cycles if 14 <= days <= 60) >= 100


def test_popularity_is_long_tailed(store: DemoStore) -> None:
    sales = Counter(p for order in store.orders for p in product_ids(order))
    ranked = [count for _, count in sales.most_common()]
    assert ranked[0] >= 10 * ranked[-1]
    assert sum(ranked[:12]) >= 0.3 * sum(ranked)


def test_categories_have_distinct_price_ranges(store: DemoStore) -> None:
    prices: dict[str, list[Decimal]] = defaultdict(list)
    for product in store.products:
        prices[product.category].append(Decimal(product.price))
    assert 6 <= len(prices) <= 8
    medians = {category: statistics.median(values) for category, values in prices.items()}
    assert max(medians.values()) >= 2 * min(medians.values())


def test_prices_are_two_decimal_strings_between_3_and_150(store: DemoStore) -> None:
    for product in store.products:
        whole, cents = product.price.split(".")
        assert whole.isdigit() and len(cents) == 2
        assert Decimal("3") <= Decimal(product.price) <= Decimal("150")


def test_handles_are_url_slugs_of_the_title(store: DemoStore) -> None:
    product = next(p for p in store.products if "&" in p.title)
    assert product.handle.startswith("salt-pepper-mill-set")
    assert all(p.handle.replace("-", "").isalnum() for p in store.products)


def test_every_product_svg_is_small_well_formed_xml(store: DemoStore) -> None:
    for product in store.products:
        assert len(product.image_svg.encode()) <= 1500
        assert ET.fromstring(product.image_svg).tag == f"{SVG_NS}svg"


def test_shopify_product_payload_has_the_webhook_shape() -> None:
    product = DemoProduct("7005", "Brass Bookmark", "brass-bookmark", "Stationery", "9.90", "")
    payload = shopify_product_payload(product, "https://demo.example/")
    assert payload["id"] == 7005
    assert (payload["title"], payload["handle"]) == ("Brass Bookmark", "brass-bookmark")
    assert (payload["product_type"], payload["status"]) == ("Stationery", "active")
    variant = payload["variants"][0]
    assert (variant["id"], variant["product_id"], variant["price"]) == (70051, 7005, "9.90")
    assert variant["sku"] == "SKU-7005" and variant["inventory_quantity"] == 25
    assert payload["image"]["src"] == "https://demo.example/demo/images/7005.svg"
    assert payload["images"] == [payload["image"]]
    assert datetime.fromisoformat(payload["created_at"]).utcoffset() is not None


def test_smaller_catalogs_keep_the_always_together_pair() -> None:
    demo = generate_store(n_orders=300, n_products=10, end=END)
    assert demo.always_together == ("7001", "7002")
    assert {p for order in demo.orders for p in product_ids(order)} <= {
        p.product_id for p in demo.products
    }


def test_an_impossible_catalog_size_is_refused() -> None:
    with pytest.raises(ValueError, match="n_products"):
        generate_store(n_products=1)
