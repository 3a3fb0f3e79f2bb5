"""The repeat part of a next-basket list, learned per shop: the chance that a customer buys a
product they bought before again soon.

"A Next Basket Recommendation Reality Check" (Li, Jullien, Ariannezhad and de Rijke, TOIS
2023) shows that what the customer bought before (repeat) carries most of a next basket in
repeat-heavy shops, and that it should be modelled on its own; ReCANet (Ariannezhad et al.,
SIGIR 2022) learns it from each (customer, product) pair's purchase history. This is that
idea in numpy: a logistic regression over features of each pair and of its product (FEATURES),
fitted on the shop's own history split in time as the per-shop choice splits it
(recommender.validation.held_out_cutoff): features of the orders before the cutoff, label 1
where the customer's next order after it holds the product again (customers who ordered
after it only), as the choice validates the personal list on each customer's next basket.
`scores` then gives every pair of the whole history its chance, aligned with
Interactions.user_items (the same entries), for ShopModel's buy-again signal. Vectorised over
pairs; the fit is a few Newton steps on at most MAX_FIT_PAIRS pairs (seeded sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.matrix import Interactions, first_of_each
from recommender.validation import held_out_cutoff

DAY = 86400.0
FEATURES = (
    "log orders", "share of the customer's baskets", "log days since", "log orders, 30 d",
    "log orders, 180 d", "log overdue (days since / usual gap)", "log usual gap",
    "log product's baskets", "product's rebuy rate", "bought once", "product's trend",
    "log customer's gap", "log customer's days", "log customer's baskets",
    "log customer's days since",
)
MAX_FIT_PAIRS = 400_000
MIN_POSITIVES = 20  # fewer repeats after the cutoff: nothing to learn from
RIDGE = 1.0
NEWTON_STEPS = 30
FLOOR = 1e-30  # the least chance stored (a stored 0 would not be an entry)


@dataclass(frozen=True)
class RepeatModel:
    """Logistic regression over FEATURES standardised by `mean` and `scale`; `weights` (one
    per feature, then the intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, data: Interactions, seed: int = 0) -> RepeatModel | None:
        """Fitted on `data` split at its held-out cutoff (module doc); None when its history
        is too short or too few customers bought a product again after the cutoff."""
        known = data.line_users >= 0
        if not known.any():
            return None
        times = data.line_times[known]
        cutoff = held_out_cutoff(float(times.min()), float(times.max()))
        if cutoff is None:
            return None
        before = known & (data.line_times < cutoff)
        after = known & (data.line_times >= cutoff)
        if not before.any():
            return None
        pairs, features = pair_features(data, before, cutoff)
        first = np.full(data.n_users, np.inf)  # each customer's next order after the cutoff
        np.minimum.at(first, data.line_users[after], data.line_times[after])
        after = after & (data.line_times <= first[data.line_users])
        bought_after = np.unique(data.line_users[after].astype(np.int64) * data.n_items
                                 + data.line_items[after])
        active = np.isin(pairs // data.n_items, np.unique(data.line_users[after]))
        labels = np.isin(pairs, bought_after).astype(np.float64)
        chosen = np.flatnonzero(active)
        if len(chosen) > MAX_FIT_PAIRS:
            rng = np.random.default_rng(seed)
            chosen = np.sort(rng.choice(chosen, MAX_FIT_PAIRS, replace=False))
        positives = float(labels[chosen].sum())
        if positives < MIN_POSITIVES or positives > len(chosen) - MIN_POSITIVES:
            return None
        x = features[chosen]
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale <= 0] = 1.0
        return cls(mean, scale, logistic_weights((x - mean) / scale, labels[chosen]))

    def scores(self, data: Interactions) -> sp.csr_matrix:
        """CSR float32 like data.user_items (the same entries): each pair's chance of a
        repeat, its features taken at data's newest purchase."""
        known = data.line_users >= 0
        pairs, features = pair_features(data, known, float(data.line_times.max()))
        chance = self.chance(features)
        users, items = np.divmod(pairs, data.n_items)
        indptr = np.zeros(data.n_users + 1, np.int64)
        np.cumsum(np.bincount(users, minlength=data.n_users), out=indptr[1:])
        return sp.csr_matrix((np.maximum(chance, FLOOR).astype(np.float32),
                              items.astype(np.int32), indptr), shape=data.user_items.shape)

    def chance(self, features: np.ndarray) -> np.ndarray:
        """float64 (pairs,): the chance of a repeat of pairs with these `features`."""
        z = ((features - self.mean) / self.scale) @ self.weights[:-1] + self.weights[-1]
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0))))


def pair_features(data: Interactions, lines: np.ndarray,
                  now: float) -> tuple[np.ndarray, np.ndarray]:
    """(int64 pair keys user * n_items + item, ascending; float64 (pairs, FEATURES)) of every
    (customer, product) pair the purchase lines where `lines` (bool per line, customers'
    only) hold, as of `now`. An order holding a product twice counts once."""
    users = data.line_users[lines].astype(np.int64)
    items = data.line_items[lines].astype(np.int64)
    baskets = data.line_baskets[lines].astype(np.int64)
    times = data.line_times[lines]
    once = first_of_each(users, baskets, items)
    users, items, baskets, times = users[once], items[once], baskets[once], times[once]
    pairs, pair = np.unique(users * data.n_items + items, return_inverse=True)
    n = len(pairs)
    age = np.maximum(now - times, 0.0) / DAY
    orders = np.bincount(pair, minlength=n).astype(np.float64)
    last = np.full(n, -np.inf)
    np.maximum.at(last, pair, times)
    first = np.full(n, np.inf)
    np.minimum.at(first, pair, times)
    recent = np.bincount(pair, weights=np.exp2(-age / 30.0), minlength=n)
    lasting = np.bincount(pair, weights=np.exp2(-age / 180.0), minlength=n)
    # customers: their baskets, first and latest
    first_basket = first_of_each(users, baskets)
    owners, basket_times = users[first_basket], times[first_basket]
    baskets_of = np.bincount(owners, minlength=data.n_users).astype(np.float64)
    start = np.full(data.n_users, np.inf)
    np.minimum.at(start, owners, basket_times)
    latest = np.full(data.n_users, -np.inf)
    np.maximum.at(latest, owners, basket_times)
    # products: baskets holding them, buyers buying again, trend
    product_baskets = np.bincount(items, minlength=data.n_items).astype(np.float64)
    pair_items = pairs % data.n_items
    buyers = np.bincount(pair_items, minlength=data.n_items).astype(np.float64)
    again = np.bincount(pair_items, weights=(orders >= 2).astype(np.float64),
                        minlength=data.n_items)
    trend = (np.log1p(np.bincount(items, weights=np.exp2(-age / 30.0), minlength=data.n_items))
             - np.log1p(product_baskets))
    owner = pairs // data.n_items
    span = np.maximum((now - start[owner]) / DAY, 1.0)
    days_since = np.maximum(now - last, 0.0) / DAY
    gap = np.where(orders > 1, (last - first) / DAY / np.maximum(orders - 1.0, 1.0), span)
    columns = (
        np.log1p(orders), orders / baskets_of[owner], np.log1p(days_since), np.log1p(recent),
        np.log1p(lasting), np.log1p(days_since / np.maximum(gap, 1.0)), np.log1p(gap),
        np.log1p(product_baskets[pair_items]),
        ((again + 1.0) / (buyers + 2.0))[pair_items], (orders == 1).astype(np.float64),
        trend[pair_items], np.log1p(span / baskets_of[owner]), np.log1p(span),
        np.log1p(baskets_of[owner]), np.log1p(np.maximum(now - latest[owner], 0.0) / DAY),
    )
    return pairs, np.column_stack(columns)


def logistic_weights(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float64 (features + 1,): ridge-regularised (RIDGE, intercept free) logistic regression
    of `labels` (0 or 1) on standardised `x` (rows, features) by Newton's method."""
    design = np.column_stack([x, np.ones(len(x))])
    ridge = np.full(design.shape[1], RIDGE)
    ridge[-1] = 0.0
    weights = np.zeros(design.shape[1])
    for _ in range(NEWTON_STEPS):
        chance = 1.0 / (1.0 + np.exp(-np.clip(design @ weights, -60.0, 60.0)))
        gradient = design.T @ (chance - labels) + ridge * weights
        hessian = (design * (chance * (1.0 - chance))[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return weights
