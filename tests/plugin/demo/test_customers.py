"""Customers and their baskets (plugin.demo.customers): how many orders each places, stable
tastes, consumables re-bought on their cycle, and baskets drawn from complement groups with the
always-together pair nearly always complete."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from plugin.demo.assortment import Catalog, build_items, popularity
from plugin.demo.clock import SECONDS_PER_DAY, Clock
from plugin.demo.customers import (
    PAIR_COMPLETION,
    RETURNING_SHARE,
    customer_times,
    draw_basket,
    make_customer,
    order_counts,
    quantity,
)

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    rng = np.random.default_rng(7)
    items = build_items(rng, 120)
    return Catalog(items, popularity(rng, len(items)))


def clock(seed: int = 1) -> Clock:
    return Clock(np.random.default_rng(seed), START, END)


def test_everyone_orders_once_about_four_in_ten_again_and_a_few_very_often() -> None:
    counts = order_counts(np.random.default_rng(1), 2500, 6000)
    assert sum(counts) == 6000 and min(counts) == 1
    returning = sum(1 for c in counts if c > 1)
    assert returning == round(2500 * RETURNING_SHARE)
    assert max(counts) >= 15
    assert order_counts(np.random.default_rng(1), 2500, 6000) == counts


def test_with_no_orders_to_spare_everyone_orders_once() -> None:
    assert order_counts(np.random.default_rng(1), 10, 10) == [1] * 10
    assert sorted(order_counts(np.random.default_rng(1), 10, 11)) == [1] * 9 + [2]


def test_a_customers_taste_and_staple_follow_their_favourite_categories(catalog) -> None:
    rng = np.random.default_rng(3)
    people = [make_customer(rng, catalog, n) for n in (1, 2, 5) * 300]
    for person in people:
        assert 1 <= len(person.favourite_groups) <= 2
        for category, group in person.favourite_groups.items():
            assert group in catalog.group_pickers[category].keys
        if person.n_orders < 2:
            assert person.staple is None  # one order: nothing to re-buy
        if person.staple is not None:
            item = catalog.items[person.staple]
            assert item.cycle_days and item.product.category == next(iter(person.favourite_groups))
        drawn = Counter(person.category_picker.pick(u) for u in rng.random(400))
        assert drawn.most_common(1)[0][0] in person.favourite_groups  # a stable preference
    subscribers = Counter(p.n_orders for p in people if p.staple is not None)
    assert subscribers[5] > subscribers[2] > 0 and subscribers[1] == 0


def test_a_subscribers_orders_come_about_one_cycle_apart(catalog) -> None:
    rng = np.random.default_rng(4)
    gaps = []
    while len(gaps) < 40:
        person = make_customer(rng, catalog, 6)
        if person.staple is None:
            continue
        times = customer_times(rng, clock(), person, catalog)
        assert len(times) == 6 and times == sorted(times)
        cycle = catalog.items[person.staple].cycle_days
        assert cycle is not None
        gaps.append(statistics.median(np.diff(times)) / SECONDS_PER_DAY / cycle)
    assert 0.8 <= statistics.median(gaps) <= 1.25


def test_anyone_elses_times_are_drawn_from_the_clock(catalog) -> None:
    rng = np.random.default_rng(5)
    person = next(p for p in (make_customer(rng, catalog, 3) for _ in range(50))
                  if p.staple is None)
    times = customer_times(rng, clock(), person, catalog)
    assert len(times) == 3 and times == sorted(times)
    assert all(START.timestamp() <= t < END.timestamp() for t in times)


def test_quantities_are_one_to_three_and_consumables_come_in_more() -> None:
    rng = np.random.default_rng(6)
    consumable = [quantity(rng, True) for _ in range(5000)]
    durable = [quantity(rng, False) for _ in range(5000)]
    assert set(consumable) == set(durable) == {1, 2, 3}
    assert Counter(durable)[1] > 0.9 * 5000 and Counter(consumable)[1] < 0.8 * 5000


def test_baskets_hold_distinct_products_mostly_of_one_group(catalog) -> None:
    rng = np.random.default_rng(8)
    people = [make_customer(rng, catalog, 4) for _ in range(200)]
    same_group = total = 0
    for person in [*people, None]:
        for nth in range(4):
            basket = draw_basket(rng, catalog, person, nth)
            assert len(basket) == len(set(basket)) and 1 <= len(basket) <= 7
            assert all(0 <= i < len(catalog.items) for i in basket)
            if len(basket) > 1:
                groups = Counter(catalog.items[i].group for i in basket)
                same_group += groups.most_common(1)[0][1] / len(basket) >= 0.5
                total += 1
    assert same_group >= 0.7 * total


def test_a_subscriber_starts_with_their_staple_and_mostly_restocks_it(catalog) -> None:
    rng = np.random.default_rng(9)
    subscribers = [p for p in (make_customer(rng, catalog, 5) for _ in range(300))
                   if p.staple is not None]
    restocked = later = 0
    for person in subscribers:
        assert person.staple in draw_basket(rng, catalog, person, 0)
        for nth in range(1, 5):
            later += 1
            restocked += person.staple in draw_basket(rng, catalog, person, nth)
    assert restocked >= 0.6 * later


def test_the_dripper_and_its_filters_are_nearly_always_bought_together(catalog) -> None:
    rng = np.random.default_rng(10)
    with_either = with_both = 0
    for _ in range(20_000):
        basket = set(draw_basket(rng, catalog, None, 0))
        if basket & {0, 1}:
            with_either += 1
            with_both += {0, 1} <= basket
    assert with_either > 200
    assert with_both / with_either >= PAIR_COMPLETION - 0.03
