"""Customers and their baskets: order counts, stable tastes, re-buy cycles of consumables,
and the basket builders (browsing, restocking, and the always-together pair)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plugin.demo.assortment import Catalog, Picker
from plugin.demo.clock import SECONDS_PER_DAY, Clock

RETURNING_SHARE = 0.42
PAIR_COMPLETION = 0.98

# fmt: off
_FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Katrin", "Lukas", "Marie", "Noah", "Olivia", "Paul", "Quentin", "Rosa", "Sofia", "Tim",
    "Ulla", "Victor", "Wiebke", "Xavier", "Yara", "Zoe", "Lea", "Matteo", "Nina", "Emil",
)
_LAST_NAMES = (
    "Müller", "Schmidt", "Dubois", "Rossi", "Jansen", "Novak", "García", "Fischer", "Weber",
    "Martin", "Bianchi", "de Vries", "Kowalski", "Lambert", "Becker", "Moreau", "Costa",
    "Hoffmann", "Lindqvist", "Peeters", "Schulz", "Ferrari", "Bernard", "Keller", "Horvat",
)
# fmt: on


@dataclass(frozen=True)
class Customer:
    first_name: str
    last_name: str
    category_picker: Picker
    favourite_groups: dict[str, str]
    n_orders: int
    staple: int | None  # a consumable re-bought on a cycle, for subscriber-like customers


def order_counts(rng: np.random.Generator, n_customers: int, n_orders: int) -> list[int]:
    """Orders per customer: everyone one, ~40% come back, a few come back very often."""
    extra = n_orders - n_customers
    n_returning = min(max(round(n_customers * RETURNING_SHARE), 1), extra, n_customers)
    counts = np.ones(n_customers, dtype=np.int64)
    if n_returning <= 0:
        return [int(c) for c in counts]
    returning = rng.choice(n_customers, size=n_returning, replace=False)
    appetite = np.minimum(rng.lognormal(0.0, 1.1, n_returning), 20.0)
    counts[returning] += 1 + rng.multinomial(extra - n_returning, appetite / appetite.sum())
    return [int(c) for c in counts]


def _taste(rng: np.random.Generator, catalog: Catalog) -> tuple[Picker, dict[str, str]]:
    """One or two preferred categories (plus a little of everything) and a favourite group each."""
    first = catalog.category_picker.pick(float(rng.random()))
    preferred = [first]
    if rng.random() < 0.45:
        second = catalog.category_picker.pick(float(rng.random()))
        if second != first:
            preferred.append(second)
    share = {category: 0.12 / len(catalog.categories) for category in catalog.categories}
    weights = (0.88,) if len(preferred) == 1 else (0.62, 0.26)
    for category, weight in zip(preferred, weights, strict=True):
        share[category] += weight
    favourites = {
        category: catalog.group_pickers[category].pick(float(rng.random()))
        for category in preferred
    }
    keys = list(share)
    return Picker(keys, [share[k] for k in keys]), favourites


def make_customer(rng: np.random.Generator, catalog: Catalog, n_orders: int) -> Customer:
    category_picker, favourites = _taste(rng, catalog)
    staple = None
    subscribe_chance = 0.0 if n_orders < 2 else (0.75 if n_orders >= 4 else 0.45)
    if rng.random() < subscribe_chance:
        main_category = next(iter(favourites))
        picker = catalog.staples.get(main_category)
        staple = picker.pick(float(rng.random())) if picker else None
    return Customer(
        first_name=_FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))],
        last_name=_LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))],
        category_picker=category_picker,
        favourite_groups=favourites,
        n_orders=n_orders,
        staple=staple,
    )


def _cycle_times(
    rng: np.random.Generator, clock: Clock, n_orders: int, cycle_days: int
) -> list[int]:
    """Re-buys every ``cycle_days`` (+-15%) of average shop time.

    The cycle is laid out in "intensity time", so it follows the seasons. A short run sits at
    a random place in the span; a run longer than half the span wraps around it (reading as
    a customer who paused for a while) so long runs do not pile up in the middle of the span.
    """
    step = cycle_days * SECONDS_PER_DAY * rng.uniform(0.9, 1.2) / max(clock.span, 1)
    step = min(step, 1.0 / n_orders)
    length = step * (n_orders - 1)
    room = 1.0 - length if length <= 0.5 else 1.0
    jitter = rng.uniform(-0.15, 0.15, n_orders) * step
    jitter[0] = abs(jitter[0])
    quantiles = (rng.random() * room + np.arange(n_orders) * step + jitter) % 1.0
    return clock.at_quantiles(quantiles)


def customer_times(
    rng: np.random.Generator, clock: Clock, customer: Customer, catalog: Catalog
) -> list[int]:
    if customer.staple is not None and customer.n_orders > 1:
        cycle_days = catalog.items[customer.staple].cycle_days or 30
        return _cycle_times(rng, clock, customer.n_orders, cycle_days)
    return clock.draw(customer.n_orders)


# --------------------------------------------------------------------------- baskets

_BASKET_SIZE = Picker([1, 2, 3, 4, 5], [0.40, 0.28, 0.17, 0.09, 0.06])


def quantity(rng: np.random.Generator, consumable: bool) -> int:
    u = float(rng.random())
    if consumable:
        return 1 if u < 0.7 else (2 if u < 0.92 else 3)
    return 1 if u < 0.93 else (2 if u < 0.985 else 3)


def _anchor_group(rng: np.random.Generator, catalog: Catalog, customer: Customer | None) -> str:
    if customer is None:
        category = catalog.category_picker.pick(float(rng.random()))
        return str(catalog.group_pickers[category].pick(float(rng.random())))
    category = customer.category_picker.pick(float(rng.random()))
    favourite = customer.favourite_groups.get(category)
    if favourite is not None and rng.random() < 0.6:
        return favourite
    return str(catalog.group_pickers[category].pick(float(rng.random())))


def _companion(rng: np.random.Generator, catalog: Catalog, group: str) -> int:
    """Another item: mostly from the same complement group, sometimes the category, or noise."""
    u = float(rng.random())
    picker = catalog.by_group[group]
    assert picker is not None
    if u >= 0.68:
        category = catalog.items[picker.keys[0]].product.category
        picker = catalog.by_category[category] if u < 0.88 else catalog.everything
        assert picker is not None
    return int(picker.pick(float(rng.random())))


def _browse_basket(
    rng: np.random.Generator, catalog: Catalog, customer: Customer | None
) -> list[int]:
    group = _anchor_group(rng, catalog, customer)
    picker = catalog.by_group[group]
    assert picker is not None
    basket = [int(picker.pick(float(rng.random())))]
    size = int(_BASKET_SIZE.pick(float(rng.random())))
    for _ in range(3 * size):
        if len(basket) >= size:
            break
        candidate = _companion(rng, catalog, group)
        if candidate not in basket:
            basket.append(candidate)
    return basket


def _restock_basket(rng: np.random.Generator, catalog: Catalog, customer: Customer) -> list[int]:
    """The customer's consumable again (sometimes a sibling variant), maybe with one extra."""
    assert customer.staple is not None
    staple = customer.staple
    if rng.random() < 0.1:
        staple = catalog.sibling_staple(staple, float(rng.random()))
    basket = [staple]
    if rng.random() < 0.3:
        extra = _companion(rng, catalog, catalog.items[staple].group)
        if extra != staple:
            basket.append(extra)
    return basket


def _complete_pair(rng: np.random.Generator, basket: list[int]) -> list[int]:
    """Items 0 and 1 (dripper and filters) travel together: add the missing one, nearly always."""
    has = [0 in basket, 1 in basket]
    if has[0] != has[1] and rng.random() < PAIR_COMPLETION:
        basket.insert(basket.index(0 if has[0] else 1) + 1, 1 if has[0] else 0)
    return basket


def draw_basket(
    rng: np.random.Generator, catalog: Catalog, customer: Customer | None, nth_order: int
) -> list[int]:
    if customer is not None and customer.staple is not None:
        if nth_order == 0:
            basket = _browse_basket(rng, catalog, customer)
            if customer.staple not in basket:
                basket.insert(0, customer.staple)
        elif rng.random() < 0.75:
            basket = _restock_basket(rng, catalog, customer)
        else:
            basket = _browse_basket(rng, catalog, customer)
    else:
        basket = _browse_basket(rng, catalog, customer)
    if len(catalog.items) > 1:
        basket = _complete_pair(rng, basket)
    return basket
