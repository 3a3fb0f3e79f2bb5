"""A fixed blend served from a trained model: the same answers as a model trained with that
blend, the arrays shared, and blends checked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from recommender.blend import (
    BLEND_FIELDS,
    BlendError,
    blend_from_text,
    blend_summary,
    blend_weights,
    with_blend,
)
from recommender.matrix import Purchase
from recommender.shop_model import Config, ShopModel
from tests.recommender.test_shop_model import synthetic_purchases

TUNED = Config(nurture_own=0.2, nurture_taste=1.0, nurture_trending=0.0,
               discovery_taste=0.1, discovery_neighbours=0.0, discovery_trending=1.0,
               cart_neighbours=0.0, cart_trending=1.0, rebuy_weighting=True,
               discovery_fallback="popularity")


@pytest.fixture(scope="module")
def purchases() -> list[Purchase]:
    return synthetic_purchases()


@pytest.fixture(scope="module")
def tuned(purchases: list[Purchase]) -> ShopModel:
    return ShopModel.train(purchases, TUNED)


def test_a_blend_names_every_field_the_rest_defaults() -> None:
    found = blend_weights({"nurture_trending": 2, "repeat_model": True})
    assert set(found) == set(BLEND_FIELDS)
    assert found["nurture_trending"] == 2.0 and found["repeat_model"] is True
    assert found["nurture_own"] == Config().nurture_own
    assert found["rebuy_weighting"] is Config().rebuy_weighting


@pytest.mark.parametrize(("raw", "says"), [
    ({"factors": 64}, "not factors"),
    ({"nurture_own": -1}, "nurture_own is a weight"),
    ({"nurture_own": float("nan")}, "nurture_own is a weight"),
    ({"cart_trending": 101}, "cart_trending is a weight"),
    ({"cart_trending": True}, "cart_trending is a weight"),
    ({"nurture_own": "1"}, "nurture_own is a weight"),
    ({"repeat_model": 1}, "repeat_model is true or false"),
    ({"cart_neighbours": 0, "cart_trending": 0}, r"every cart_\* weight is 0"),
])
def test_a_bad_blend_is_refused(raw: dict[str, object], says: str) -> None:
    with pytest.raises(BlendError, match=says):
        blend_weights(raw)


def test_the_defaults_blend_answers_as_a_model_trained_with_the_defaults(
        purchases: list[Purchase], tuned: ShopModel) -> None:
    """Blend fields act when a list is scored: the tuned model with the default blend answers
    exactly as the same fit with the default weights (the fit does not depend on them)."""
    defaults = {name: getattr(Config(), name) for name in BLEND_FIELDS}
    plain = ShopModel.train(purchases, replace(TUNED, discovery_fallback="", **defaults))
    served = with_blend(tuned, blend_weights({}))
    for customer in ("c1", "c2", "c17"):
        for exclude in (False, True):
            assert served.for_customer(customer, 8, exclude) == \
                plain.for_customer(customer, 8, exclude)
            assert served.for_customer(customer, 8, exclude) != \
                tuned.for_customer(customer, 8, exclude)
        assert served.buy_again(customer, 5) == plain.buy_again(customer, 5)
    assert served.for_cart(["p5", "p1"], None, 6) == plain.for_cart(["p5", "p1"], None, 6)
    assert served.for_cart(["p5", "p1"], None, 6) != tuned.for_cart(["p5", "p1"], None, 6)


def test_a_blend_shares_the_arrays_and_leaves_the_model_alone(tuned: ShopModel) -> None:
    served = with_blend(tuned, blend_weights({"nurture_own": 3}))
    assert served is not tuned and served.user_items is tuned.user_items
    assert served.taste is tuned.taste and served.neighbours is tuned.neighbours
    assert served.config.nurture_own == 3.0 and tuned.config.nurture_own == 0.2
    assert tuned.config.discovery_fallback == "popularity"
    assert served.config.fallbacks == {}
    assert served.config.cf == tuned.config.cf  # what was fitted stays


def test_customer_neighbours_not_fitted_weigh_nothing(tuned: ShopModel) -> None:
    served = with_blend(tuned, blend_weights({"nurture_customers": 5, "discovery_customers": 5}))
    assert served.config.nurture_customers == 0.0 == served.config.discovery_customers
    assert served.for_customer("c3", 5, True).items  # answers without customer neighbours


def test_a_blend_is_written_as_text() -> None:
    assert blend_from_text(" nurture_own = 2,repeat_model=TRUE\ncart_trending=0.5, ") == {
        "nurture_own": 2.0, "repeat_model": True, "cart_trending": 0.5}
    assert blend_from_text("") == {}
    for bad in ("nurture_own", "nurture_own=x", "=1", "a=1,a=2"):
        with pytest.raises(BlendError, match="blend"):
            blend_from_text(bad)


def test_a_blend_is_summed_up_by_what_differs_from_the_defaults() -> None:
    blend = blend_weights({"nurture_own": 0, "repeat_model": True, "cart_trending": 0.25})
    assert blend_summary(blend) == "cart_trending=0.25, nurture_own=0, repeat_model=true"
    assert blend_from_text(blend_summary(blend)) == {
        "cart_trending": 0.25, "nurture_own": 0.0, "repeat_model": True}
    assert blend_summary(blend_weights({})) == "the default blend"
