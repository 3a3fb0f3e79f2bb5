"""Off-the-shelf recommenders to measure shopreco against (see recommender.evaluation).

Every baseline tops its answer up with popular products (orders holding the product, ties by
product id) so it always names `k` products; "nothing to say" is then plain popularity.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender, ItemItemRecommender
from implicit.utils import ParameterWarning

import recommender.models  # noqa: F401  (limits BLAS to one thread at import: implicit needs it)
from recommender.matrix import Purchase, build_interactions
from recommender.tuning import TUNING_BUDGET_SECONDS, Choice, train_tuned


class Popularity:
    """The most popular products: orders holding the product in training."""

    name = "popularity"

    def fit(self, train: Sequence[Purchase]) -> None:
        self.data = build_interactions(train)
        self._items: list[str] = self.data.item_ids.tolist()
        self._item_index = {item: i for i, item in enumerate(self._items)}
        self._user_index = {u: i for i, u in enumerate(self.data.user_ids.tolist())}
        counts = np.asarray(self.data.basket_items.sum(axis=0)).ravel()
        self._popular = np.lexsort((self.data.item_ids, -counts))

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        return self._fill([], k, self._history(customer_id) if exclude_purchased else set())

    def for_cart(self, product_ids: Sequence[str], k: int) -> list[str]:
        return self._fill([], k, self._indices(product_ids))

    # ---- shared by the baselines ------------------------------------------------------------

    def _history(self, customer_id: str) -> set[int]:
        user = self._user_index.get(customer_id)
        if user is None:
            return set()
        row = self.data.user_items
        return set(row.indices[row.indptr[user]:row.indptr[user + 1]].tolist())

    def _indices(self, product_ids: Iterable[str]) -> set[int]:
        return {self._item_index[p] for p in product_ids if p in self._item_index}

    def _fill(self, found: Iterable[int], k: int, exclude: set[int]) -> list[str]:
        """`found` item indices (best first) minus `exclude`, topped up with popular items."""
        taken = set(exclude)
        chosen: list[int] = []
        for item in (*found, *self._popular.tolist()):
            if len(chosen) >= k:
                break
            if item not in taken:
                chosen.append(item)
                taken.add(item)
        return [self._items[i] for i in chosen]

    def _ranked(self, scores: np.ndarray, k: int, exclude: set[int]) -> list[str]:
        """The items of positive score, best first (ties by index), then popular items."""
        order = np.argsort(-scores, kind="stable")
        best = [int(i) for i in order[: k + len(exclude)] if scores[i] > 0]
        return self._fill(best, k, exclude)

    def _row(self, items: Iterable[int]) -> sp.csr_matrix:
        """A CSR float32 (1, items) row holding 1 at `items`."""
        cols = np.array(sorted(items), dtype=np.int32)
        return sp.csr_matrix((np.ones(len(cols), np.float32), cols, [0, len(cols)]),
                             shape=(1, len(self._items)))


class OwnHistory(Popularity):
    """The customer's own most-bought products: orders holding them, ties by the latest
    purchase. It has nothing new to say (discovery) nor about carts: popularity there."""

    name = "own-history"

    def fit(self, train: Sequence[Purchase]) -> None:
        super().fit(train)
        self._own = _own_rankings(train, self._item_index)

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        if exclude_purchased:
            return self._fill([], k, self._history(customer_id))
        return self._fill(self._own.get(customer_id, [])[:k], k, set())


def _own_rankings(train: Sequence[Purchase], index: dict[str, int]) -> dict[str, list[int]]:
    orders: dict[tuple[str, int], set[str]] = defaultdict(set)
    latest: dict[tuple[str, int], float] = defaultdict(float)
    for p in train:
        if p.customer_id and p.product_id in index:
            key = (p.customer_id, index[p.product_id])
            orders[key].add(p.order_id)
            latest[key] = max(latest[key], p.timestamp)
    rankings: dict[str, list[tuple[int, float, int]]] = defaultdict(list)
    for (customer, item), bought in orders.items():
        rankings[customer].append((-len(bought), -latest[(customer, item)], item))
    return {c: [item for *_, item in sorted(ranked)] for c, ranked in rankings.items()}


class CoOccurrence(Popularity):
    """Raw co-occurrence counts: orders holding both products. A cart scores the sum of its
    products' counts; a customer the sum over the products of their history."""

    name = "co-occurrence"

    def fit(self, train: Sequence[Purchase]) -> None:
        super().fit(train)
        baskets = self.data.basket_items
        together = (baskets.T @ baskets).tocsr()
        together.setdiag(0)
        together.eliminate_zeros()
        self._together = together

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        history = self._history(customer_id)
        exclude = history if exclude_purchased else set()
        if not history:
            return self._fill([], k, exclude)
        return self._ranked(self._scores(history), k, exclude)

    def for_cart(self, product_ids: Sequence[str], k: int) -> list[str]:
        cart = self._indices(product_ids)
        return self._ranked(self._scores(cart), k, cart) if cart else self._fill([], k, cart)

    def _scores(self, items: set[int]) -> np.ndarray:
        return np.asarray(self._together[sorted(items)].sum(axis=0)).ravel()


class _Implicit(Popularity):
    """An implicit model fit on the customer x product matrix (orders holding the product)."""

    def _new_model(self) -> AlternatingLeastSquares | ItemItemRecommender:
        raise NotImplementedError

    def fit(self, train: Sequence[Purchase]) -> None:
        super().fit(train)
        self._model = self._new_model()
        self._model.fit(self.data.user_items, show_progress=False)

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        user = self._user_index.get(customer_id)
        exclude = self._history(customer_id) if exclude_purchased else set()
        if user is None:
            return self._fill([], k, exclude)
        row = self.data.user_items[user]
        return self._recommend(user, row, k, exclude_purchased, exclude, recalculate=False)

    def for_cart(self, product_ids: Sequence[str], k: int) -> list[str]:
        cart = self._indices(product_ids)
        if not cart:
            return self._fill([], k, cart)
        return self._recommend(0, self._row(cart), k, True, cart, recalculate=True)

    def _recommend(self, user: int, row: sp.csr_matrix, k: int, filter_liked: bool,
                   exclude: set[int], recalculate: bool) -> list[str]:
        ids, scores = self._model.recommend(
            user, row, N=k, filter_already_liked_items=filter_liked, recalculate_user=recalculate
        )
        found = [int(i) for i, s in zip(ids, scores, strict=True) if self._keeps(float(s))]
        return self._fill(found, k, exclude)

    def _keeps(self, score: float) -> bool:
        return bool(np.isfinite(score))


class ImplicitALS(_Implicit):
    """implicit's ALS with the library's default parameters (seeded for repeatability)."""

    name = "implicit ALS (defaults)"

    def _new_model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(random_state=0)


class BM25ItemKNN(_Implicit):
    """implicit's BM25-weighted item-kNN, K=100 neighbours. A customer is scored from their
    history row, a cart from its own row (implicit ignores recalculate_user for kNN); products
    of score 0 give way to popular ones."""

    name = "implicit BM25 item-kNN K=100"

    def _new_model(self) -> ItemItemRecommender:
        return BM25Recommender(K=100)

    def fit(self, train: Sequence[Purchase]) -> None:
        # implicit's own bm25_weight hands its kNN a COO matrix and then warns about it
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Method expects CSR input", ParameterWarning)
            super().fit(train)

    def _keeps(self, score: float) -> bool:
        return bool(np.isfinite(score)) and score > 0


class ShopReco:
    """The shopreco model itself under test, trained as the plugin trains a shop: its
    configuration chosen on the training orders alone (recommender.tuning), within
    `tuning_seconds`."""

    name = "shopreco"

    def __init__(self, tuning_seconds: float = TUNING_BUDGET_SECONDS) -> None:
        self.tuning_seconds = tuning_seconds
        self.choice: Choice | None = None

    def fit(self, train: Sequence[Purchase]) -> None:
        self.model, self.choice = train_tuned(train, self.tuning_seconds)

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        answer = self.model.for_customer(customer_id, k, exclude_purchased)
        return [r.product_id for r in answer.items]

    def for_cart(self, product_ids: Sequence[str], k: int) -> list[str]:
        return [r.product_id for r in self.model.for_cart(product_ids, None, k).items]


def all_recommenders(tuning_seconds: float = TUNING_BUDGET_SECONDS
                     ) -> list[ShopReco | Popularity]:
    """shopreco first, then every baseline."""
    return [ShopReco(tuning_seconds), Popularity(), OwnHistory(), CoOccurrence(), ImplicitALS(),
            BM25ItemKNN()]

