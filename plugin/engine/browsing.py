"""The queries of a visitor's browsing history (plugin.store.browsing): what they viewed lately,
and what the model's item neighbours link to it. Named queries like those of
plugin.engine.queries, served the same way (plugin.engine.serving).

RecentlyViewed       the visitor's last viewed products   API visitors kind=recently_viewed;
                                                          recently_viewed placement
InspiredByBrowsing   what goes with their recent views    API visitors kind=inspired_by_browsing;
                                                          inspired_by_browsing placement

A query holds the history it was built from, as this process holds it (plugin.store.
visitor_cache: read once, then served from memory until a browsing note names the visitor),
and its `key` names that history: a kept answer is never one of an older history, so a new
view is served by the process that recorded it at once and by every other after its next
refresh, without a change note.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from plugin.engine.queries import PersonalCall
from plugin.store.cache import ShopCache
from recommender.shop_model import Answer, Recommendation, ShopModel

RECENTLY_VIEWED = "recently_viewed"
INSPIRED = "inspired_by_browsing"
BROWSING = "browsing"  # the reason of an item the visitor's views led to
INSPIRING = 10  # the newest views whose neighbours are asked for


@dataclass(frozen=True)
class RecentlyViewed:
    """The visitor's viewed products newest first, the never-shown ones left out; no pins
    (their own list, like buy again). It needs no model: before the shop's first one it still
    answers (serving's `without_model`)."""

    viewed: tuple[str, ...]  # newest first, the catalog's products only
    limit: int
    name: str = RECENTLY_VIEWED

    @property
    def key(self) -> Hashable:
        return (self.name, self.viewed, self.limit)

    @property
    def customer(self) -> str | None:
        return None

    @property
    def anchors(self) -> tuple[str, ...]:
        return ()

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return self.without_model(blocked)

    def without_model(self, blocked: AbstractSet[str]) -> Answer:
        shown = [p for p in self.viewed if p not in blocked][:self.limit]
        return Answer(RECENTLY_VIEWED, [
            Recommendation(p, round(1.0 - n / len(shown), 6), RECENTLY_VIEWED)
            for n, p in enumerate(shown)])

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return None


@dataclass(frozen=True)
class InspiredByBrowsing:
    """Products the model's item neighbours link to the visitor's INSPIRING newest views
    (reason `browsing`, `because` the views that led to each), never a viewed product, filled
    with trending ones; trending alone for a visitor without views. The viewed products are
    its anchors: the owner's pins for them show first."""

    viewed: tuple[str, ...]  # newest first
    limit: int
    name: str = INSPIRED

    @property
    def key(self) -> Hashable:
        return (self.name, self.viewed, self.limit)

    @property
    def customer(self) -> str | None:
        return None

    @property
    def anchors(self) -> tuple[str, ...]:
        return self.viewed

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        if not self.viewed:
            return model.trending(self.limit, blocked)
        answer = model.for_cart(list(self.viewed[:INSPIRING]), None, self.limit,
                                {*blocked, *self.viewed})
        return Answer(answer.strategy, [
            Recommendation(r.product_id, r.score, BROWSING, r.because) if r.reason == "cart"
            else r for r in answer.items])

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset()


async def recently_viewed(cache: ShopCache, shop_id: str, visitor_id: str, limit: int,
                          leave_out: str | None = None) -> RecentlyViewed:
    """The visitor's recently viewed products (those in the catalog; not `leave_out`, the
    product of the page that asks)."""
    viewed = [p for p in await cache.visitors.browsed(shop_id, visitor_id) if p != leave_out]
    entries = await cache.products(shop_id, viewed)
    return RecentlyViewed(tuple(p for p, entry in zip(viewed, entries, strict=True) if entry),
                          limit)


async def inspired_by_browsing(cache: ShopCache, shop_id: str, visitor_id: str, limit: int,
                               viewing: str | None = None) -> InspiredByBrowsing:
    """What goes with the visitor's views (and `viewing`, the product of the page that asks,
    as the newest of them)."""
    viewed = await cache.visitors.browsed(shop_id, visitor_id)
    if viewing is not None:
        viewed = (viewing, *(p for p in viewed if p != viewing))
    return InspiredByBrowsing(viewed, limit)
