"""An experiment arm's query on the shop's model: `arm_query` turns the query a placement asks
into what the arm's strategy serves (plugin.store.experiments): trending without the anchors
for popularity, the same query with a fixed blend for a config arm (`Blended`)."""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from plugin.engine.queries import PersonalCall, Popular, Query
from plugin.store.experiments import POPULARITY, blend_of
from recommender.blend import with_blend
from recommender.shop_model import Answer, ShopModel


@dataclass(frozen=True)
class Blended:
    """`query` on the shop's model with another blend (recommender.blend): a config arm.
    Run on its own (no personal call shared with the model's other lists): a list scored
    with other weights."""

    query: Query
    blend: tuple[tuple[str, float | bool], ...]
    name: str = "blended"

    @property
    def key(self) -> Hashable:
        return (self.name, self.query.key, self.blend)

    @property
    def customer(self) -> str | None:
        return self.query.customer

    @property
    def anchors(self) -> tuple[str, ...]:
        return self.query.anchors

    @property
    def limit(self) -> int:
        return self.query.limit

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return self.query.run(with_blend(model, dict(self.blend)), blocked)

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return self.query.kept_out(with_blend(model, dict(self.blend)))


def arm_query(strategy: str, query: Query) -> Query:
    """What `strategy` (an arm's or a placement's, Arm.serves) serves for `query`."""
    if strategy == POPULARITY:
        return Popular(query.anchors, query.limit)
    blend = blend_of(strategy)
    if blend is None:
        return query
    return Blended(query, tuple(sorted(blend.items())))
