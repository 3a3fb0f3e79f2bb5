"""One shop's trained model: every recommendation call of the API, answered from arrays."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.matrix import Interactions, Purchase, build_interactions
from recommender.models import (
    als_from_factors,
    confidence,
    copurchase_neighbours,
    fit_als,
    trending_scores,
)

TRENDING = "trending"


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    score: float
    reason: str
    because: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    strategy: str
    items: list[Recommendation]


def default_factors(data: Interactions) -> int:
    """Latent factors for a shop's size: about sqrt(catalog), 8..64. Too many factors for a
    small catalog overfit (on the demo store, 64 factors put a third of "similar" items in
    another category; 10 put none)."""
    return int(np.clip(np.sqrt(min(data.n_items, max(data.n_users, 1))), 8, 64))


class ShopModel:
    """Arrays of a trained shop model and the queries served from them.

    item_ids: str (items,); user_ids: str (users,); user_factors float32 (users, f);
    item_factors float32 (items, f); user_items CSR float32 (users, items);
    neighbours CSR float32 (items, items) best first per row; trending float64 (items,).
    """

    def __init__(
        self,
        item_ids: np.ndarray,
        user_ids: np.ndarray,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        user_items: sp.csr_matrix,
        neighbours: sp.csr_matrix,
        trending: np.ndarray,
    ) -> None:
        self.item_ids = item_ids
        self.user_ids = user_ids
        self.user_items = user_items
        self.neighbours = neighbours
        self.trending_scores = trending
        self._als = als_from_factors(user_factors, item_factors)
        self._items: list[str] = item_ids.tolist()
        self._item_index = {item: i for i, item in enumerate(self._items)}
        self._user_index = {user: u for u, user in enumerate(user_ids.tolist())}
        self._trending_order = np.lexsort((item_ids, -trending))

    # ---- training and storage -------------------------------------------------------------

    @classmethod
    def train(
        cls, purchases: Iterable[Purchase], factors: int | None = None, iterations: int = 20
    ) -> ShopModel:
        data = build_interactions(purchases)
        return cls.from_interactions(data, factors=factors, iterations=iterations)

    @classmethod
    def from_interactions(
        cls, data: Interactions, factors: int | None = None, iterations: int = 20
    ) -> ShopModel:
        factors = default_factors(data) if factors is None else factors
        factors = max(2, min(factors, data.n_items - 1, max(data.n_users - 1, 1)))
        if data.n_users > 0:
            als = fit_als(data.user_items, factors=factors, iterations=iterations)
            user_factors, item_factors = als.user_factors, als.item_factors
        else:  # only guest baskets so far: no personal model yet
            user_factors = np.zeros((0, factors), np.float32)
            item_factors = np.zeros((data.n_items, factors), np.float32)
        return cls(
            item_ids=data.item_ids,
            user_ids=data.user_ids,
            user_factors=user_factors,
            item_factors=item_factors,
            user_items=data.user_items,
            neighbours=copurchase_neighbours(data.basket_items),
            trending=trending_scores(data),
        )

    def to_bytes(self) -> bytes:
        """npz bytes of every array (no pickle); `from_bytes` reads them back."""
        buffer = io.BytesIO()
        arrays = {
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            "user_factors": self._als.user_factors,
            "item_factors": self._als.item_factors,
            "trending": self.trending_scores,
            **_csr_arrays("user_items", self.user_items),
            **_csr_arrays("neighbours", self.neighbours),
        }
        np.savez_compressed(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ShopModel:
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            return cls(
                item_ids=arrays["item_ids"],
                user_ids=arrays["user_ids"],
                user_factors=arrays["user_factors"],
                item_factors=arrays["item_factors"],
                user_items=_csr_from(arrays, "user_items"),
                neighbours=_csr_from(arrays, "neighbours"),
                trending=arrays["trending"],
            )

    def without_customers(self, customer_ids: Iterable[str]) -> ShopModel:
        """This model without the rows of `customer_ids` (for erasure without retraining).

        Drops their entries of user_ids, user_factors and user_items; they are then unknown
        customers (trending fallback). item_factors, neighbours (co-purchase) and trending
        stay as they are: aggregates over all customers that hold no identity; the next
        training rebuilds them from the remaining orders.
        """
        drop = set(customer_ids)
        keep = np.fromiter((user not in drop for user in self.user_ids.tolist()), dtype=bool,
                           count=len(self.user_ids))
        return ShopModel(
            item_ids=self.item_ids,
            user_ids=self.user_ids[keep],
            user_factors=self._als.user_factors[keep],
            item_factors=self._als.item_factors,
            user_items=sp.csr_matrix(self.user_items[keep]),
            neighbours=self.neighbours,
            trending=self.trending_scores,
        )

    # ---- queries ----------------------------------------------------------------------------

    def knows_product(self, product_id: str) -> bool:
        return product_id in self._item_index

    def knows_customer(self, customer_id: str) -> bool:
        return customer_id in self._user_index

    def purchased_by(self, customer_id: str) -> set[str]:
        """The products the model holds as bought by the customer (empty if unknown)."""
        user = self._user_index.get(customer_id)
        return set() if user is None else {self._items[j] for j in self.user_items[user].indices}

    def trending(self, limit: int, exclude: Iterable[str] = ()) -> Answer:
        """Time-decayed bestsellers, none of `exclude`."""
        return Answer(TRENDING, self._fill([], limit, set(exclude)))

    # Every query takes `blocked`: products that must never be shown (out of stock, deleted,
    # excluded by the owner). They are dropped before cutting to `limit`, and the answer is
    # filled up to `limit` from trending products that are not blocked either.

    def bought_together(
        self, product_id: str, limit: int, blocked: AbstractSet[str] = frozenset()
    ) -> Answer:
        exclude = {product_id, *blocked}
        item = self._item_index.get(product_id)
        if item is None:
            return self.trending(limit, exclude=exclude)
        start, end = self.neighbours.indptr[item], self.neighbours.indptr[item + 1]
        found = [
            Recommendation(self._items[j], float(s), "bought_together", (product_id,))
            for j, s in zip(self.neighbours.indices[start:end], self.neighbours.data[start:end],
                            strict=True)
        ]
        return Answer("copurchase", self._fill(found, limit, exclude))

    def similar(
        self, product_id: str, limit: int, blocked: AbstractSet[str] = frozenset()
    ) -> Answer:
        item = self._item_index.get(product_id)
        if item is None or not np.any(self._als.item_factors[item]):
            return self.bought_together(product_id, limit, blocked)
        wanted = min(limit + 1 + len(blocked), len(self._items))
        ids, scores = self._als.similar_items(item, N=wanted)
        found = [
            Recommendation(self._items[j], float(s), "similar_items", (product_id,))
            for j, s in zip(ids, scores, strict=True)
            if j != item and np.isfinite(s)
        ]
        return Answer("als_similar", self._fill(found, limit, {product_id, *blocked}))

    def for_customer(
        self, customer_id: str, limit: int, exclude_purchased: bool,
        blocked: AbstractSet[str] = frozenset(), history: Mapping[str, int] | None = None,
    ) -> Answer:
        """Personal recommendations. `history` (product id -> orders holding it), when given,
        is the customer's purchases as of now: their factors are recomputed from it, so a new
        order (or a new customer) changes the list at once, without retraining."""
        user = self._user_index.get(customer_id)
        fresh = self._history_row(history) if history else None
        if fresh is None and user is None:
            return self.trending(limit, exclude=blocked)
        bought = confidence(fresh) if fresh is not None else self.user_items[user]
        wanted = min(limit + len(blocked), len(self._items))
        ids, scores = self._als.recommend(
            user or 0, bought, N=wanted, filter_already_liked_items=exclude_purchased,
            recalculate_user=fresh is not None,
        )
        found = [
            Recommendation(self._items[j], float(s), "personal")
            for j, s in zip(ids, scores, strict=True)
            if np.isfinite(s)
        ]
        exclude = {self._items[j] for j in bought.indices} if exclude_purchased else set()
        return Answer("als", self._fill(found, limit, exclude | set(blocked)))

    def _history_row(self, history: Mapping[str, int]) -> sp.csr_matrix | None:
        """A 1 x items CSR float32 row of purchase counts; None if no product is known."""
        known = [(self._item_index[p], n) for p, n in history.items()
                 if p in self._item_index and n > 0]
        if not known:
            return None
        columns, counts = zip(*sorted(known), strict=True)
        return sp.csr_matrix(
            (np.array(counts, np.float32), (np.zeros(len(columns), np.int32), columns)),
            shape=(1, len(self._items)),
        )

    def for_cart(
        self, product_ids: Sequence[str], customer_id: str | None, limit: int,
        blocked: AbstractSet[str] = frozenset(),
    ) -> Answer:
        cart = [self._item_index[p] for p in dict.fromkeys(product_ids) if p in self._item_index]
        exclude = set(product_ids) | set(blocked)
        if not cart:
            if customer_id is not None and self.knows_customer(customer_id):
                answer = self.for_customer(customer_id, limit, False, exclude)
                return Answer(answer.strategy, answer.items)
            return self.trending(limit, exclude=exclude)
        scores = np.asarray(self.neighbours[cart].sum(axis=0)).ravel()
        scores[cart] = 0.0
        found = []
        for j in np.argsort(-scores, kind="stable")[: limit + len(exclude)]:
            if scores[j] <= 0:
                break
            because = tuple(
                self._items[i] for i in cart if self.neighbours[i, j] > 0
            )
            found.append(Recommendation(self._items[j], float(scores[j]), "cart", because))
        return Answer("copurchase", self._fill(found, limit, exclude))

    def _fill(
        self, found: list[Recommendation], limit: int, exclude: set[str]
    ) -> list[Recommendation]:
        """Top up `found` to `limit` with trending items, scored below everything found."""
        found = [r for r in found if r.product_id not in exclude][:limit]
        taken = exclude | {r.product_id for r in found}
        top = float(self.trending_scores.max()) if len(self.trending_scores) else 0.0
        floor = min((r.score for r in found), default=None)
        for j in self._trending_order:
            if len(found) >= limit:
                break
            item = self._items[j]
            if item not in taken:
                share = float(self.trending_scores[j]) / top if top > 0 else 0.0
                found.append(Recommendation(item, _filler_score(floor, share), TRENDING))
                taken.add(item)
        return found


def _filler_score(floor: float | None, share: float) -> float:
    """A trending filler's score from its trending share (1 = the top seller): the share itself
    when nothing else was found, else strictly below `floor`, the lowest score found (which
    may be negative), keeping the trending order."""
    if floor is None:
        return share
    margin = max(abs(floor), 1e-6) * 0.5
    return floor - margin * (2.0 - share)


def _csr_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{name}_data": matrix.data,
        f"{name}_indices": matrix.indices,
        f"{name}_indptr": matrix.indptr,
        f"{name}_shape": np.array(matrix.shape, dtype=np.int64),
    }


def _csr_from(arrays: np.lib.npyio.NpzFile, name: str) -> sp.csr_matrix:
    shape = tuple(int(x) for x in arrays[f"{name}_shape"])
    return sp.csr_matrix(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]), shape=shape
    )
