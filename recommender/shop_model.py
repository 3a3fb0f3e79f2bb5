"""One shop's trained model: every recommendation call of the API, answered from arrays."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from recommender.config import Config
from recommender.history import (
    BUY_AGAIN_HALF_LIFE_DAYS,
    LATEST_HALF_LIFE_DAYS,
    decayed_counts,
    decayed_purchases,
    rebuy_rates,
)
from recommender.matrix import Interactions, Purchase, PurchaseLines, build_interactions
from recommender.models import trending_scores
from recommender.neighbours import TOP_K, ItemNeighbours, nearest_by_vectors
from recommender.next_basket import NextBasket
from recommender.npz import csr_arrays, csr_from, npz_bytes
from recommender.plain import Plain
from recommender.ranking import (
    BUY_AGAIN,
    PERSONAL,
    TRENDING,
    Answer,
    Fillers,
    Recommendation,
    best,
    best_rows,
    filler_score,
    share,
    share_rows,
)
from recommender.rows import Row, counts_row, row_of, same_structure
from recommender.taste import PersonalTaste

__all__ = ["BUY_AGAIN", "BUY_AGAIN_HALF_LIFE_DAYS", "LATEST_HALF_LIFE_DAYS", "PERSONAL",
           "TRENDING", "Answer", "Config", "Recommendation", "ShopModel"]


class ShopModel:
    """Arrays of a trained shop model and the queries served from them.

    config: what was fitted and how answers blend; item_ids: str (items,); user_ids: str
    (users,); user_items CSR float32 (users, items), orders holding each product; taste: the
    personal taste model config.cf names, one vector per user; neighbours: the item neighbours
    config.neighbours names; trending float64 (items,); user_recent CSR float32 (users,
    items), user_items with each order decayed by its age at the newest purchase (half-life
    BUY_AGAIN_HALF_LIFE_DAYS); user_latest CSR float32 (users, items), the same with
    half-life LATEST_HALF_LIFE_DAYS; similar_items CSR float32 (items, items), each item's
    TOP_K nearest items by taste (positive cosine of unit_item_vectors), best first, ties by
    index (what `similar` serves; computed from the taste when not given); cart_neighbours:
    those config.cart_kind names, for carts (the same object when it is config.neighbours);
    plain: the baselines config.fallbacks names (recommender.plain), None without any;
    next_basket: the learned repeats and customer neighbours config names (empty without).
    """

    def __init__(
        self,
        config: Config,
        item_ids: np.ndarray,
        user_ids: np.ndarray,
        user_items: sp.csr_matrix,
        taste: PersonalTaste,
        neighbours: ItemNeighbours,
        trending: np.ndarray,
        user_recent: sp.csr_matrix | None = None,
        user_latest: sp.csr_matrix | None = None,
        similar_items: sp.csr_matrix | None = None,
        cart_neighbours: ItemNeighbours | None = None,
        plain: Plain | None = None,
        next_basket: NextBasket | None = None,
    ) -> None:
        if config.fallbacks and plain is None:
            raise ValueError(f"{config.fallbacks} fall back to baselines not given (plain)")
        self.config, self.plain = config, plain
        self.cart_neighbours = neighbours if cart_neighbours is None else cart_neighbours
        self.item_ids = item_ids
        self.user_ids = user_ids
        self.user_items = user_items
        self.taste = taste
        self.neighbours = neighbours
        self.trending_scores = trending
        self.user_recent = user_items.copy() if user_recent is None else user_recent
        self.user_latest = user_items.copy() if user_latest is None else user_latest
        self.next_basket = NextBasket() if next_basket is None else next_basket
        # the decayed matrices that store user_items' entries (all but very old saves)
        self._aligned = tuple(decayed for decayed in (self.user_recent, self.user_latest,
                                                      self.next_basket.repeat)
                              if decayed is not None and same_structure(decayed, user_items))
        self.similar_items = (nearest_by_vectors(taste.unit_item_vectors(), TOP_K)
                              if similar_items is None else similar_items)
        self._trending_share = share(trending)
        self.rebuy_rates = rebuy_rates(user_items)
        self._items: list[str] = item_ids.tolist()
        self._item_index = {item: i for i, item in enumerate(self._items)}
        self._user_index = {user: u for u, user in enumerate(user_ids.tolist())}
        self._fill = Fillers(item_ids, trending).fill

    # ---- training and storage -------------------------------------------------------------

    @classmethod
    def train(cls, purchases: Iterable[Purchase] | PurchaseLines,
              config: Config | None = None) -> ShopModel:
        return cls.from_interactions(build_interactions(purchases), config)

    @classmethod
    def from_interactions(cls, data: Interactions, config: Config | None = None) -> ShopModel:
        """Fit every part `config` names on `data`, and its decayed purchases: all but the taste
        model in a second thread while that fits (its threads leave room for it, numpy and
        scipy free the GIL)."""
        config = config or Config()
        with ThreadPoolExecutor(max_workers=1) as pool:
            neighbours = pool.submit(config.item_neighbours().fit, data)
            carts = (pool.submit(config.item_neighbours(config.cart_kind).fit, data)
                     if config.cart_kind != config.neighbours else neighbours)
            trending = pool.submit(trending_scores, data, config.trending_half_life_days)
            decayed = pool.submit(decayed_purchases, data, (BUY_AGAIN_HALF_LIFE_DAYS,
                                                            LATEST_HALF_LIFE_DAYS))
            plain = (pool.submit(Plain.fit, data, set(config.fallbacks.values()))
                     if config.fallbacks else None)
            next_basket = pool.submit(NextBasket.fit, data, config)
            taste = config.taste().fit(data.user_items)
            user_recent, user_latest = decayed.result()
            return cls(
                config=config,
                item_ids=data.item_ids,
                user_ids=data.user_ids,
                user_items=data.user_items,
                taste=taste,
                neighbours=neighbours.result(),
                trending=trending.result(),
                user_recent=user_recent,
                user_latest=user_latest,
                cart_neighbours=carts.result(),
                plain=None if plain is None else plain.result(),
                next_basket=next_basket.result(),
            )

    def to_bytes(self) -> bytes:
        """npz bytes of every array and the config as JSON text (no pickle); `from_bytes`
        reads them back."""
        return npz_bytes({
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            **self.taste.to_arrays(),
            "trending": self.trending_scores,
            "config": np.array(self.config.to_json()),
            **csr_arrays("user_items", self.user_items),
            **csr_arrays("user_recent", self.user_recent, like=self.user_items),
            **csr_arrays("user_latest", self.user_latest, like=self.user_items),
            **csr_arrays("neighbours", self.neighbours.matrix),
            **csr_arrays("similar", self.similar_items),
            **({} if self.cart_neighbours is self.neighbours else
               csr_arrays("cart_neighbours", self.cart_neighbours.matrix)),
            **({} if self.plain is None else self.plain.to_arrays()),
            **self.next_basket.to_arrays(self.user_items),
        })

    @classmethod
    def from_bytes(cls, raw: bytes) -> ShopModel:
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            stored = set(arrays.files)  # older: no user_recent, user_latest, config, similar
            config = Config.from_json(str(arrays["config"])) if "config" in stored else Config()
            user_items = csr_from(arrays, "user_items")
            return cls(
                config=config,
                item_ids=arrays["item_ids"],
                user_ids=arrays["user_ids"],
                user_items=user_items,
                taste=config.taste().load(arrays),
                neighbours=config.item_neighbours().load(csr_from(arrays, "neighbours")),
                trending=arrays["trending"],
                user_recent=(csr_from(arrays, "user_recent", user_items)
                             if "user_recent_shape" in stored else None),
                user_latest=(csr_from(arrays, "user_latest", user_items)
                             if "user_latest_shape" in stored else None),
                similar_items=csr_from(arrays, "similar") if "similar_shape" in stored else None,
                cart_neighbours=config.item_neighbours(config.cart_kind).load(
                    csr_from(arrays, "cart_neighbours"))
                if "cart_neighbours_shape" in stored else None,
                plain=Plain.from_arrays(arrays),
                next_basket=NextBasket.from_arrays(arrays, config, user_items),
            )

    def without_customers(self, customer_ids: Iterable[str]) -> ShopModel:
        """This model without the rows of `customer_ids` (for erasure without retraining).

        Drops their entries of user_ids, user_items, user_recent, user_latest and their taste
        vectors; they are then unknown customers (trending fallback). Item vectors, neighbours
        and trending stay as they are: aggregates over all customers that hold no identity;
        the next training rebuilds them from the remaining orders.
        """
        drop = set(customer_ids)
        keep = np.fromiter((user not in drop for user in self.user_ids.tolist()), dtype=bool,
                           count=len(self.user_ids))
        return ShopModel(
            config=self.config,
            item_ids=self.item_ids,
            user_ids=self.user_ids[keep],
            user_items=sp.csr_matrix(self.user_items[keep]),
            taste=self.taste.without_users(keep),
            neighbours=self.neighbours,
            trending=self.trending_scores,
            user_recent=sp.csr_matrix(self.user_recent[keep]),
            user_latest=sp.csr_matrix(self.user_latest[keep]),
            similar_items=self.similar_items,
            cart_neighbours=self.cart_neighbours,
            plain=None if self.plain is None else self.plain.without_users(keep),
            next_basket=self.next_basket.without_users(keep),
        )

    # ---- queries ----------------------------------------------------------------------------

    def knows_product(self, product_id: str) -> bool:
        return product_id in self._item_index

    def knows_customer(self, customer_id: str) -> bool:
        return customer_id in self._user_index

    def purchased_by(self, customer_id: str) -> set[str]:
        """The products the model holds as bought by the customer (empty if unknown)."""
        user = self._user_index.get(customer_id)
        return set() if user is None else {
            self._items[j] for j in row_of(self.user_items, user).indices.tolist()}

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
        found = [
            Recommendation(self._items[j], float(s), "bought_together", (product_id,))
            for j, s in zip(*self.neighbours.of(item), strict=True)
        ]
        return Answer(self.config.neighbours, self._fill(found, limit, exclude))

    def similar(
        self, product_id: str, limit: int, blocked: AbstractSet[str] = frozenset()
    ) -> Answer:
        item = self._item_index.get(product_id)
        vectors = self.taste.unit_item_vectors()
        if item is None or not np.any(vectors[item]):
            return self.bought_together(product_id, limit, blocked)
        exclude = {product_id, *blocked}
        start, end = self.similar_items.indptr[item], self.similar_items.indptr[item + 1]
        kept = zip(self.similar_items.indices[start:end].tolist(),
                   self.similar_items.data[start:end].tolist(), strict=True)
        found = [Recommendation(self._items[j], score, "similar_items", (product_id,))
                 for j, score in kept if self._items[j] not in exclude][:limit]
        if len(found) < limit and end - start >= TOP_K:  # blocked ate into a cut list
            scores = vectors @ vectors[item]
            scores[item] = -np.inf
            found = [
                Recommendation(self._items[j], float(scores[j]), "similar_items", (product_id,))
                for j in best(scores, min(limit + len(exclude), len(self._items)))
            ]
        return Answer(f"{self.config.cf}_similar", self._fill(found, limit, exclude))

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
        return self.for_customers([(customer_id, history)], limit, exclude_purchased,
                                  blocked)[0]

    def for_customers(
        self, asked: Sequence[tuple[str, Mapping[str, int] | None]], limit: int,
        exclude_purchased: bool, blocked: AbstractSet[str] = frozenset(),
    ) -> list[Answer]:
        """`for_customer` of each (customer id, history) scored together (a burst, a feed
        page): one fold-in solve, blend and sort for all, the same answers as one at a time."""
        answers: dict[int, Answer] = {}
        live: list[tuple[int, int | None, Row, bool]] = []  # (asked at, user, counts, fresh)
        for at, (customer_id, history) in enumerate(asked):
            user = self._user_index.get(customer_id)
            found_counts = self._counts(user, history)
            if found_counts is None:
                answers[at] = self.trending(limit, exclude=blocked)
            else:
                live.append((at, user, *found_counts))
        if live:
            scores = self._personal_scores([entry[1:] for entry in live], exclude_purchased)
            ranked = best_rows(scores, min(limit + len(blocked), len(self._items)))
            for (at, _, counts, _), row, items in zip(live, scores, ranked, strict=True):
                answers[at] = self._personal(counts.indices, items, row, limit,
                                             exclude_purchased, blocked)
        return [answers[at] for at in range(len(asked))]

    def _personal_scores(self, live: Sequence[tuple[int | None, Row, bool]],
                         exclude_purchased: bool) -> np.ndarray:
        """float64 (customers, items): the personal blend of each (user, counts, fresh) as
        `for_customer` says (taste folded in when fresh; each taste row its own float32 gemv),
        or the baseline the task falls back to."""
        c = self.config
        fallback = c.discovery_fallback if exclude_purchased else c.nurture_fallback
        if fallback and self.plain:
            scores = np.asarray(self.plain.for_rows(fallback, live, self.user_items), np.float64)
            for k, (_, counts, _) in enumerate(live):
                scores[k, counts.indices] *= 0.0 if exclude_purchased else 1.0  # never bought
            return scores
        folded = iter(self.taste.fold_in_many([counts for _, counts, fresh in live if fresh]))
        taste = np.empty((len(live), len(self._items)))
        for k, (user, _, fresh) in enumerate(live):
            taste[k] = self.taste.score(next(folded) if fresh else self.taste.user_factors[user])
        taste = share_rows(taste)
        signal = np.empty_like(taste)  # own decayed purchases, or neighbours of the latest
        for k, (user, counts, _) in enumerate(live):
            signal[k] = (self.neighbours.scores(self._decayed(self.user_latest, user, counts))
                         if exclude_purchased else self._own(user, counts))
        signal = share_rows(signal)
        customers = (share_rows(self.next_basket.customer_rows([u for u, _, _ in live],
                                                               len(self._items)))
                     if c.uses_customers else 0.0 * self._trending_share)
        if not exclude_purchased:
            return (c.nurture_own * signal + c.nurture_taste * taste
                    + c.nurture_customers * customers + c.nurture_trending * self._trending_share)
        scores = (c.discovery_taste * taste + c.discovery_neighbours * signal
                  + c.discovery_customers * customers
                  + c.discovery_trending * self._trending_share)
        for k, (_, counts, _) in enumerate(live):
            scores[k, counts.indices] = 0.0
        return scores

    def _personal(self, bought: np.ndarray, ranked: list[int], scores: np.ndarray, limit: int,
                  exclude_purchased: bool, blocked: AbstractSet[str]) -> Answer:
        """The answer of one customer who bought `bought` from their `ranked` best items of
        `scores` (items,): reasons, the purchases behind each, fillers."""
        repeat = set(bought.tolist()) if not exclude_purchased else set()
        because = [tuple(self._items[j] for j in found)
                   for found in self.neighbours.because(bought, ranked)]
        found = [
            Recommendation(self._items[j], score, BUY_AGAIN) if j in repeat else
            Recommendation(self._items[j], score, PERSONAL, because[column])
            for column, (j, score) in enumerate(zip(ranked, scores[ranked].tolist(),
                                                    strict=True))
        ]
        exclude = {self._items[j] for j in bought} if exclude_purchased else set()
        fallback = self.config.fallbacks.get("discovery" if exclude_purchased else "nurture")
        return Answer(fallback or self.config.cf,
                      self._fill(found, limit, exclude | set(blocked)))

    def buy_again(
        self, customer_id: str, limit: int, blocked: AbstractSet[str] = frozenset(),
        history: Mapping[str, int] | None = None,
    ) -> Answer:
        """The customer's own purchases, by how often and how recently they bought them
        (reason "buy_again"), filled up with their personal list (then trending): the "buy it
        again" shelf. `history` as in `for_customer`."""
        user = self._user_index.get(customer_id)
        found_counts = self._counts(user, history)
        if found_counts is None:
            return self.trending(limit, exclude=blocked)
        own = self._own(user, found_counts[0])
        found = [Recommendation(self._items[j], float(own[j]), BUY_AGAIN)
                 for j in best(own, min(limit + len(blocked), len(self._items)))
                 if self._items[j] not in blocked][:limit]
        if len(found) < limit:
            taken = {r.product_id for r in found}
            floor = min((r.score for r in found), default=None)
            more = self.for_customer(customer_id, limit + len(taken), False, blocked, history)
            for rec in more.items:
                if len(found) >= limit:
                    break
                if rec.product_id not in taken:
                    score = rec.score if floor is None else filler_score(floor, 0.5)
                    found.append(Recommendation(rec.product_id, score, rec.reason, rec.because))
                    taken.add(rec.product_id)
                    floor = score if floor is not None else None
        return Answer(BUY_AGAIN, found)

    def _counts(self, user: int | None, history: Mapping[str, int] | None
                ) -> tuple[Row, bool] | None:
        """(1, items) counts from `history` (True: fold in), else (or equal) training's."""
        fresh = counts_row(history, self._item_index, len(self._items)) if history else None
        trained = None if user is None else row_of(self.user_items, user)
        if fresh is None or (trained is not None and fresh.same(trained)):
            return None if trained is None else (trained, False)
        return fresh, True

    def _own(self, user: int | None, counts: Row) -> np.ndarray:
        """The buy-again signal (items,): the customer's time-decayed orders of each product,
        times the product's rebuy rate when the config says so; or the learned chance of each
        repeat (recommender.repeat, orders since training counting 1 each)."""
        repeat = self.next_basket.repeat
        own = self._decayed(self.user_recent if repeat is None or not self.config.repeat_model
                            else repeat, user, counts)
        return own * self.rebuy_rates if self.config.rebuy_weighting else own

    def _decayed(self, decayed: sp.csr_matrix, user: int | None, counts: Row) -> np.ndarray:
        """Time-decayed orders (items,) holding each product `counts` holds, from the
        `decayed` row of `user` (recommender.history.decayed_counts)."""
        if user is None:
            return counts.dense()
        return decayed_counts(counts.dense(), row_of(self.user_items, user),
                              row_of(decayed, user),
                              any(decayed is aligned for aligned in self._aligned))

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
        linked = self.cart_neighbours.summed(cart)
        c = self.config
        if c.cart_fallback and self.plain:  # its own order; "cart" where neighbours link it
            scores = self.plain.cart(c.cart_fallback, cart)
        else:
            scores = c.cart_neighbours * share(linked) + c.cart_trending * self._trending_share
        scores[cart] = 0.0
        ranked = best(scores, limit + len(exclude))
        links = self.cart_neighbours.links(cart, ranked) > 0  # (cart, ranked): which led to it
        found, led = [], bool(c.cart_neighbours or c.cart_fallback)  # neighbours' links count
        for column, j in enumerate(ranked):
            because = tuple(self._items[cart[r]] for r in np.flatnonzero(links[:, column]))
            reason = "cart" if linked[j] > 0 and led else TRENDING
            found.append(Recommendation(self._items[j], float(scores[j]), reason, because))
        return Answer(c.cart_fallback or c.cart_kind, self._fill(found, limit, exclude))
