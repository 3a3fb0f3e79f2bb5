"""An arm's query (plugin/engine/blended.py): popularity and a config arm's blend turn the
placement's query into theirs; a blended query answers as the model with its blend and is
kept apart from the model's own answers."""

from __future__ import annotations

import pytest

from plugin.engine.blended import Blended, arm_query
from plugin.engine.queries import Personal, Popular, Similar
from plugin.store.experiments import Arm
from recommender.blend import blend_weights, with_blend
from recommender.shop_model import ShopModel
from tests.recommender.test_shop_model import synthetic_purchases

BLEND = tuple(sorted(blend_weights({"nurture_own": 0, "nurture_trending": 3}).items()))


@pytest.fixture(scope="module")
def model() -> ShopModel:
    return ShopModel.train(synthetic_purchases())


def test_each_strategy_turns_the_query_into_its_own() -> None:
    asked = Similar("p1", 4)
    assert arm_query("chosen", asked) is asked
    assert arm_query("holdout", asked) is asked  # answered empty before it runs
    assert arm_query("popularity", asked) == Popular(("p1",), 4)
    blended = arm_query(Arm("B", "config", 50, BLEND).serves, asked)
    assert blended == Blended(asked, BLEND)
    assert blended.key != asked.key and blended.anchors == ("p1",) and blended.limit == 4


def test_a_blended_query_answers_as_the_model_with_its_blend(model: ShopModel) -> None:
    asked = Personal("c4", 6, False, history={})
    blended = Blended(asked, BLEND)
    mixed = with_blend(model, dict(BLEND))
    assert blended.run(model, frozenset()) == mixed.for_customer("c4", 6, False)
    assert blended.run(model, frozenset()) != asked.run(model, frozenset())
    assert blended.personal_call(model) is None  # scored on its own, never with the model's
    assert blended.customer == "c4"
    assert blended.kept_out(model) == asked.kept_out(mixed)
