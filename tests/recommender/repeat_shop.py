"""A synthetic repeat-heavy shop (a grocery's weekly baskets) whose next baskets favour what
customers bought lately and what their kind of customer buys: for the next-basket methods
(recommender.customers, recommender.repeat) and the choice that picks them."""

from __future__ import annotations

import numpy as np

from recommender.matrix import Purchase

START = 1_700_000_000.0
DAY = 86400.0
GROUPS, PER_GROUP = 4, 15  # products p0-p14 for group 0, p15-p29 for group 1, ...


def repeat_heavy_shop(customers: int = 240, orders: int = 12, seed: int = 3) -> list[Purchase]:
    """Each customer keeps to one group of products; a week apart, each of their `orders`
    holds each of their current staples with chance 0.8 and one other product of their group
    with chance 0.6. Their staples change once: 4 old ones for the first two thirds of their
    orders, 4 new ones after, so the old ones were bought more often and the new ones more
    lately. Products' popularity is about even: nothing but the customer's own history and
    their group's tells their next basket."""
    rng = np.random.default_rng(seed)
    rows = []
    switch = 2 * orders // 3
    for c in range(customers):
        group = np.arange(PER_GROUP) + PER_GROUP * (c % GROUPS)
        picked = rng.permutation(group)
        old, new, others = picked[:4], picked[4:8], picked[8:]
        begin = START + float(rng.uniform(0, 7)) * DAY
        for n in range(orders):
            staples = old if n < switch else new
            basket = {int(p) for p in staples if rng.random() < 0.8}
            if rng.random() < 0.6:
                basket.add(int(rng.choice(others)))
            if not basket:
                basket.add(int(staples[0]))
            at = begin + 7 * DAY * n
            rows.extend(Purchase(f"o{c}-{n}", f"c{c}", f"p{p}", 1, at) for p in sorted(basket))
    return rows
