"""A shop whose right answers are known: two groups of customers and products that never mix.

Products a0-a5 and b0-b5; customers a-c0..a-c14 buy only a-products, b-c0..b-c14 only
b-products: two orders of two products each, every pair of a group bought together by someone.
"""

from __future__ import annotations

from itertools import combinations

from recommender.matrix import Purchase

NOW = 1_750_000_000.0
DAY = 86_400.0
GROUPS = {group: tuple(f"{group}{i}" for i in range(6)) for group in ("a", "b")}
CUSTOMERS = 15  # per group
_PAIRS = list(combinations(range(6), 2))  # 15


def two_groups() -> list[Purchase]:
    rows = []
    for group, items in GROUPS.items():
        for c in range(CUSTOMERS):
            customer = f"{group}-c{c}"
            for n in range(2):
                i, j = _PAIRS[(c + 4 * n) % len(_PAIRS)]
                at = NOW - (c + 7 * n) * DAY
                rows += [Purchase(f"{customer}-o{n}", customer, items[i], 1, at),
                         Purchase(f"{customer}-o{n}", customer, items[j], 1, at)]
    return rows


def group_of(product_id: str) -> str:
    return product_id[0]
