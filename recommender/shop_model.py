"""One shop's trained model: every recommendation call of the API, answered from arrays."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, fields

import numpy as np
import scipy.sparse as sp

from recommender.matrix import Interactions, Purchase, build_interactions
from recommender.models import (
    ALS_ALPHA,
    ALS_REGULARIZATION,
    als_from_factors,
    bm25_neighbours,
    confidence,
    copurchase_neighbours,
    fit_als,
    fit_bpr,
    trending_scores,
)

TRENDING = "trending"
BUY_AGAIN = "buy_again"
PERSONAL = "personal"

# Each order in a customer's own history is decayed with a half-life of
# BUY_AGAIN_HALF_LIFE_DAYS for buy-again and LATEST_HALF_LIFE_DAYS for discovery (what they buy
# now says more about what they want next).
BUY_AGAIN_HALF_LIFE_DAYS = 180.0
LATEST_HALF_LIFE_DAYS = 30.0


@dataclass(frozen=True)
class Config:
    """A shop's strategy and hyperparameters (recommender.tuning chooses them per shop).

    Personal taste: `cf` "als" (implicit ALS: factors, regularization, alpha, iterations) or
    "bpr" (implicit BPR: factors, learning_rate, regularization, iterations); factors 0 means
    default_factors(). Item neighbours for bought-together, carts and discovery: `neighbours`
    "copurchase" (baskets with both, shrunk cosine) or "bm25" (implicit's BM25 item-kNN, K=100).
    Trending: purchases decayed with `trending_half_life_days` (0: no decay, popularity).
    Buy-again: the customer's own orders, each decayed by age; with `rebuy_weighting`, times
    the product's rebuy rate (the share of its buyers who bought it in two or more orders,
    smoothed), so staples come back and one-off purchases do not.
    Blends, each signal scaled to a top of 1:
      personal list (nurture) = nurture_own * own decayed purchases + nurture_taste * taste
                                + nurture_trending * trending;
      never bought (discovery) = discovery_taste * taste + discovery_neighbours * neighbours of
                                 the latest purchases + discovery_trending * trending;
      cart = cart_neighbours * neighbours of the cart + cart_trending * trending.
    The defaults were chosen with `shopreco evaluate` on UCI Online Retail.
    """

    rebuy_weighting: bool = False
    cf: str = "als"
    factors: int = 0
    regularization: float = ALS_REGULARIZATION
    alpha: float = ALS_ALPHA
    iterations: int = 20
    learning_rate: float = 0.01
    neighbours: str = "copurchase"
    trending_half_life_days: float = 14.0
    nurture_own: float = 1.0
    nurture_taste: float = 0.3
    nurture_trending: float = 0.5
    discovery_taste: float = 1.0
    discovery_neighbours: float = 1.0
    discovery_trending: float = 0.1
    cart_neighbours: float = 1.0
    cart_trending: float = 0.0

    def __post_init__(self) -> None:
        if self.cf not in {"als", "bpr"}:
            raise ValueError(f"cf must be als or bpr, got {self.cf!r}")
        if self.neighbours not in {"copurchase", "bm25"}:
            raise ValueError(f"neighbours must be copurchase or bm25, got {self.neighbours!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Config:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(raw).items() if k in known})

    @property
    def strategy(self) -> str:
        """A short name: the personal model and the neighbours, e.g. "als+copurchase"."""
        return f"{self.cf}+{self.neighbours}"


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
    neighbours CSR float32 (items, items) best first per row; trending float64 (items,);
    user_recent CSR float32 (users, items), user_items with each order decayed by its age at
    the newest purchase (half-life BUY_AGAIN_HALF_LIFE_DAYS); user_latest CSR float32 (users,
    items), the same with half-life LATEST_HALF_LIFE_DAYS.
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
        user_recent: sp.csr_matrix | None = None,
        user_latest: sp.csr_matrix | None = None,
        config: Config | None = None,
    ) -> None:
        self.config = config or Config()
        self.item_ids = item_ids
        self.user_ids = user_ids
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.user_items = user_items
        self.neighbours = neighbours
        self.trending_scores = trending
        self.user_recent = user_items.copy() if user_recent is None else user_recent
        self.user_latest = user_items.copy() if user_latest is None else user_latest
        self._trending_share = _share(trending)
        self.rebuy_rates = rebuy_rates(user_items)
        self._als = (als_from_factors(user_factors, item_factors, self.config.regularization,
                                      self.config.alpha)
                     if self.config.cf == "als" else None)
        self._items: list[str] = item_ids.tolist()
        self._item_index = {item: i for i, item in enumerate(self._items)}
        self._user_index = {user: u for u, user in enumerate(user_ids.tolist())}
        self._trending_order = np.lexsort((item_ids, -trending))

    # ---- training and storage -------------------------------------------------------------

    @classmethod
    def train(cls, purchases: Iterable[Purchase], config: Config | None = None) -> ShopModel:
        rows = list(purchases)
        data = build_interactions(rows)
        return cls.from_interactions(data, config,
                                     user_recent=recent_purchases(rows, data),
                                     user_latest=recent_purchases(rows, data,
                                                                  LATEST_HALF_LIFE_DAYS))

    @classmethod
    def from_interactions(
        cls, data: Interactions, config: Config | None = None,
        user_recent: sp.csr_matrix | None = None, user_latest: sp.csr_matrix | None = None,
        factors: tuple[np.ndarray, np.ndarray] | None = None,
        neighbours: sp.csr_matrix | None = None,
    ) -> ShopModel:
        """Fit every part `config` names on `data`; `factors` (user, item) and `neighbours`,
        when given, are parts already fit with the same config (tuning reuses them)."""
        config = config or Config()
        user_factors, item_factors = fit_factors(data, config) if factors is None else factors
        return cls(
            item_ids=data.item_ids,
            user_ids=data.user_ids,
            user_factors=user_factors,
            item_factors=item_factors,
            user_items=data.user_items,
            neighbours=fit_neighbours(data, config) if neighbours is None else neighbours,
            trending=trending_scores(data, config.trending_half_life_days),
            user_recent=user_recent,
            user_latest=user_latest,
            config=config,
        )

    def to_bytes(self) -> bytes:
        """npz bytes of every array and the config as JSON text (no pickle); `from_bytes`
        reads them back."""
        buffer = io.BytesIO()
        arrays = {
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "trending": self.trending_scores,
            "config": np.array(self.config.to_json()),
            **_csr_arrays("user_items", self.user_items),
            **_csr_arrays("user_recent", self.user_recent),
            **_csr_arrays("user_latest", self.user_latest),
            **_csr_arrays("neighbours", self.neighbours),
        }
        np.savez_compressed(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ShopModel:
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            stored = set(arrays.files)  # older models lack user_recent, user_latest, config
            return cls(
                item_ids=arrays["item_ids"],
                user_ids=arrays["user_ids"],
                user_factors=arrays["user_factors"],
                item_factors=arrays["item_factors"],
                user_items=_csr_from(arrays, "user_items"),
                neighbours=_csr_from(arrays, "neighbours"),
                trending=arrays["trending"],
                user_recent=(_csr_from(arrays, "user_recent")
                             if "user_recent_shape" in stored else None),
                user_latest=(_csr_from(arrays, "user_latest")
                             if "user_latest_shape" in stored else None),
                config=Config.from_json(str(arrays["config"])) if "config" in stored else None,
            )

    def without_customers(self, customer_ids: Iterable[str]) -> ShopModel:
        """This model without the rows of `customer_ids` (for erasure without retraining).

        Drops their entries of user_ids, user_factors, user_items, user_recent and
        user_latest; they are then unknown customers (trending fallback). item_factors,
        neighbours (co-purchase) and trending stay as they are: aggregates over all
        customers that hold no identity; the next training rebuilds them from the remaining
        orders.
        """
        drop = set(customer_ids)
        keep = np.fromiter((user not in drop for user in self.user_ids.tolist()), dtype=bool,
                           count=len(self.user_ids))
        return ShopModel(
            item_ids=self.item_ids,
            user_ids=self.user_ids[keep],
            user_factors=self.user_factors[keep],
            item_factors=self.item_factors,
            user_items=sp.csr_matrix(self.user_items[keep]),
            neighbours=self.neighbours,
            trending=self.trending_scores,
            user_recent=sp.csr_matrix(self.user_recent[keep]),
            user_latest=sp.csr_matrix(self.user_latest[keep]),
            config=self.config,
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
        return Answer(self.config.neighbours, self._fill(found, limit, exclude))

    def similar(
        self, product_id: str, limit: int, blocked: AbstractSet[str] = frozenset()
    ) -> Answer:
        item = self._item_index.get(product_id)
        vectors = self._item_vectors()
        if item is None or not np.any(vectors[item]):
            return self.bought_together(product_id, limit, blocked)
        scores = vectors @ vectors[item]
        scores[item] = -np.inf
        wanted = min(limit + 1 + len(blocked), len(self._items))
        found = [
            Recommendation(self._items[j], float(scores[j]), "similar_items", (product_id,))
            for j in _best(scores, wanted)
        ]
        return Answer(f"{self.config.cf}_similar", self._fill(found, limit,
                                                               {product_id, *blocked}))

    def _item_vectors(self) -> np.ndarray:
        """Unit-length item factors (BPR's bias column left out), for cosine similarity."""
        if getattr(self, "_unit_items", None) is None:
            vectors = self.item_factors[:, :-1] if self.config.cf == "bpr" else self.item_factors
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._unit_items = np.divide(vectors, norms, out=np.zeros_like(vectors),
                                         where=norms > 0)
        return self._unit_items

    def for_customer(
        self, customer_id: str, limit: int, exclude_purchased: bool,
        blocked: AbstractSet[str] = frozenset(), history: Mapping[str, int] | None = None,
    ) -> Answer:
        """Personal recommendations. `history` (product id -> orders holding it), when given,
        is the customer's purchases as of now: their factors are recomputed from it, so a new
        order (or a new customer) changes the list at once, without retraining.

        With `exclude_purchased` False, products the customer bought come back by how often
        and how recently they did (reason "buy_again"), blended with their ALS taste and
        trending products; with True, only products they never bought, by ALS taste, the
        co-purchase neighbours of their latest purchases and trending (reason "personal")."""
        user = self._user_index.get(customer_id)
        fresh = self._history_row(history) if history else None
        if fresh is None and user is None:
            return self.trending(limit, exclude=blocked)
        counts = fresh if fresh is not None else self.user_items[user]
        bought = counts.indices
        taste = _share(self._taste(user, counts, recalculate=fresh is not None))
        c = self.config
        if exclude_purchased:
            latest = self._decayed(self.user_latest, user, counts)
            scores = (c.discovery_taste * taste
                      + c.discovery_neighbours * _share(self._neighbour_scores(latest))
                      + c.discovery_trending * self._trending_share)
            scores[bought] = 0.0
        else:
            scores = (c.nurture_own * _share(self._own(user, counts))
                      + c.nurture_taste * taste + c.nurture_trending * self._trending_share)
        wanted = min(limit + len(blocked), len(self._items))
        repeat = set(bought.tolist()) if not exclude_purchased else set()
        best = _best(scores, wanted)
        because = self._because(bought, best)
        found = [
            Recommendation(self._items[j], float(scores[j]), BUY_AGAIN)
            if j in repeat else
            Recommendation(self._items[j], float(scores[j]), PERSONAL, because[column])
            for column, j in enumerate(best)
        ]
        exclude = {self._items[j] for j in bought} if exclude_purchased else set()
        return Answer(c.cf, self._fill(found, limit, exclude | set(blocked)))

    def buy_again(
        self, customer_id: str, limit: int, blocked: AbstractSet[str] = frozenset(),
        history: Mapping[str, int] | None = None,
    ) -> Answer:
        """The customer's own purchases, by how often and how recently they bought them
        (reason "buy_again"), filled up with their personal list (then trending): the "buy it
        again" shelf. `history` as in `for_customer`."""
        user = self._user_index.get(customer_id)
        fresh = self._history_row(history) if history else None
        if fresh is None and user is None:
            return self.trending(limit, exclude=blocked)
        counts = fresh if fresh is not None else self.user_items[user]
        own = self._own(user, counts)
        found = [Recommendation(self._items[j], float(own[j]), BUY_AGAIN)
                 for j in _best(own, min(limit + len(blocked), len(self._items)))
                 if self._items[j] not in blocked][:limit]
        if len(found) < limit:
            taken = {r.product_id for r in found}
            floor = min((r.score for r in found), default=None)
            more = self.for_customer(customer_id, limit + len(taken), False, blocked, history)
            for rec in more.items:
                if len(found) >= limit:
                    break
                if rec.product_id not in taken:
                    score = rec.score if floor is None else _filler_score(floor, 0.5)
                    found.append(Recommendation(rec.product_id, score, rec.reason, rec.because))
                    taken.add(rec.product_id)
                    floor = score if floor is not None else None
        return Answer(BUY_AGAIN, found)

    def _own(self, user: int | None, counts: sp.csr_matrix) -> np.ndarray:
        """The buy-again signal (items,): the customer's time-decayed orders of each product,
        times the product's rebuy rate when the config says so."""
        own = self._decayed(self.user_recent, user, counts)
        return own * self.rebuy_rates if self.config.rebuy_weighting else own

    def _because(self, bought: np.ndarray, items: list[int],
                 top: int = 3) -> list[tuple[str, ...]]:
        """Per item of `items`: up to `top` bought products that are co-purchase neighbours
        of it, closest first: the purchases that led to recommending it (empty if only taste
        did)."""
        if not len(bought) or not items:
            return [() for _ in items]
        links = self.neighbours[bought][:, items].toarray()  # (bought, items)
        found = []
        for column in range(len(items)):
            order = np.argsort(-links[:, column], kind="stable")[:top]
            found.append(tuple(self._items[bought[k]] for k in order if links[k, column] > 0))
        return found

    def _taste(self, user: int | None, counts: sp.csr_matrix, recalculate: bool) -> np.ndarray:
        """ALS scores (items,) of the customer, from factors recomputed from `counts` when
        `recalculate`, else the trained ones."""
        if not (recalculate or user is None):
            factors = self.user_factors[user]
        elif self._als is not None:
            factors = np.ravel(self._als.recalculate_user(0, confidence(counts)))
        else:
            factors = self._fold_in(counts)
        return np.asarray(self.item_factors @ factors, np.float64)

    def _fold_in(self, counts: sp.csr_matrix) -> np.ndarray:
        """BPR user factors for a purchase row: the ridge least-squares fit of a score of 1
        minus the item bias on the bought items, bias weight 1 (BPR has no closed form)."""
        bought = counts.indices
        vectors = self.item_factors[bought, :-1].astype(np.float64)
        target = 1.0 - self.item_factors[bought, -1].astype(np.float64)
        gram = vectors.T @ vectors + self.config.regularization * len(bought) * np.eye(
            vectors.shape[1])
        return np.append(np.linalg.solve(gram, vectors.T @ target), 1.0).astype(np.float32)

    def _neighbour_scores(self, weights: np.ndarray) -> np.ndarray:
        """Co-purchase scores (items,) of the products bought, summed with `weights` (items,)."""
        return np.asarray(self.neighbours.T @ weights, np.float64).ravel()

    def _decayed(self, decayed: sp.csr_matrix, user: int | None,
                 counts: sp.csr_matrix) -> np.ndarray:
        """Time-decayed orders (items,) holding each product `counts` holds, from the
        `decayed` row of `user`. An order the trained model has not seen (history beyond its
        counts) counts as new; fewer orders than trained on (refunds, deletions) scale the
        trained decayed count down."""
        wanted = np.asarray(counts.todense(), np.float64).ravel()
        if user is None:
            return wanted
        trained = np.asarray(self.user_items[user].todense(), np.float64).ravel()
        recent = np.asarray(decayed[user].todense(), np.float64).ravel()
        kept = np.divide(np.minimum(wanted, trained), trained, out=np.zeros_like(trained),
                         where=trained > 0)
        return recent * kept + np.maximum(wanted - trained, 0.0)

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
        linked = np.asarray(self.neighbours[cart].sum(axis=0), np.float64).ravel()
        c = self.config
        scores = c.cart_neighbours * _share(linked) + c.cart_trending * self._trending_share
        scores[cart] = 0.0
        best = _best(scores, limit + len(exclude))
        links = self.neighbours[cart][:, best].toarray() > 0  # (cart, best): which led to it
        found = []
        for column, j in enumerate(best):
            because = tuple(self._items[cart[r]] for r in np.flatnonzero(links[:, column]))
            reason = "cart" if linked[j] > 0 and c.cart_neighbours > 0 else TRENDING
            found.append(Recommendation(self._items[j], float(scores[j]), reason, because))
        return Answer(c.neighbours, self._fill(found, limit, exclude))

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


def rebuy_rates(user_items: sp.csr_matrix) -> np.ndarray:
    """float64 (items,): per product, (customers who bought it in 2+ orders + 1) / (customers
    who bought it + 2): how likely a buyer is to buy it again (Laplace-smoothed)."""
    counts = user_items.tocsc()
    buyers = np.diff(counts.indptr).astype(np.float64)
    return (_columns_at_least(counts, 2.0) + 1.0) / (buyers + 2.0)


def _columns_at_least(matrix: sp.csc_matrix, value: float) -> np.ndarray:
    """Per column, how many stored entries are at least `value`."""
    rows_at_least = (matrix.data >= value).astype(np.float64)
    column_of_entry = np.repeat(np.arange(matrix.shape[1]), np.diff(matrix.indptr))
    return np.bincount(column_of_entry, weights=rows_at_least, minlength=matrix.shape[1])


def fit_factors(data: Interactions, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """(user_factors, item_factors) float32 of the personal model `config` names. BPR's
    arrays carry its item bias as the last column (users hold 1 there)."""
    factors = default_factors(data) if config.factors <= 0 else config.factors
    factors = max(2, min(factors, data.n_items - 1, max(data.n_users - 1, 1)))
    width = factors + (config.cf == "bpr")
    if data.n_users == 0:  # only guest baskets so far: no personal model yet
        return np.zeros((0, width), np.float32), np.zeros((data.n_items, width), np.float32)
    if config.cf == "bpr":
        bpr = fit_bpr(data.user_items, factors=factors, iterations=config.iterations,
                      learning_rate=config.learning_rate, regularization=config.regularization)
        return np.asarray(bpr.user_factors), np.asarray(bpr.item_factors)
    als = fit_als(data.user_items, factors=factors, iterations=config.iterations,
                  regularization=config.regularization, alpha=config.alpha)
    return np.asarray(als.user_factors), np.asarray(als.item_factors)


def fit_neighbours(data: Interactions, config: Config) -> sp.csr_matrix:
    """The item-item neighbours `config` names, CSR float32 (items, items), best first."""
    if config.neighbours == "bm25" and data.n_users > 1:
        return bm25_neighbours(data.user_items)
    return copurchase_neighbours(data.basket_items)


def recent_purchases(
    purchases: Sequence[Purchase], data: Interactions,
    half_life_days: float = BUY_AGAIN_HALF_LIFE_DAYS,
) -> sp.csr_matrix:
    """CSR float32 (users, items) like data.user_items, each order holding the item weighted
    by exp-decay of its age at the newest purchase."""
    rows = [p for p in purchases if p.quantity > 0 and p.customer_id is not None]
    if not rows:
        return sp.csr_matrix(data.user_items.shape, dtype=np.float32)
    users = np.searchsorted(data.user_ids, np.array([p.customer_id for p in rows], dtype=str))
    items = np.searchsorted(data.item_ids, np.array([p.product_id for p in rows], dtype=str))
    _, orders = np.unique(np.array([p.order_id for p in rows], dtype=str), return_inverse=True)
    _, first = np.unique(np.stack([users, orders, items]), axis=1, return_index=True)
    times = np.array([p.timestamp for p in rows], dtype=np.float64)[first]
    age_days = np.maximum(float(data.line_times.max()) - times, 0.0) / 86400.0
    recent = sp.csr_matrix(
        (np.exp2(-age_days / half_life_days).astype(np.float32), (users[first], items[first])),
        shape=data.user_items.shape,
    )
    recent.sum_duplicates()
    return recent


def _share(scores: np.ndarray) -> np.ndarray:
    """`scores` clipped at 0 and scaled so the top is 1 (all 0 if none is positive)."""
    clipped = np.maximum(np.asarray(scores, np.float64), 0.0)
    top = float(clipped.max()) if len(clipped) else 0.0
    return clipped / top if top > 0 else clipped


def _best(scores: np.ndarray, n: int) -> list[int]:
    """Indices of the `n` best positive scores, best first, ties by index."""
    n = min(n, len(scores))
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    ordered = top[np.lexsort((top, -scores[top]))]
    return [int(j) for j in ordered if scores[j] > 0]


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
