"""Config, a shop's strategy and hyperparameters: its names checked against the registries,
stored as JSON inside every saved model, and the unfitted models it names."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from recommender.config import Config
from recommender.neighbours import NEIGHBOURS, Bm25ItemKnn, CoPurchase
from recommender.taste import TASTES, AlsTaste, BprTaste


@pytest.mark.parametrize(("field", "registry"), [
    ("cf", TASTES), ("neighbours", NEIGHBOURS), ("cart_neighbours_kind", NEIGHBOURS)])
def test_an_unknown_strategy_name_is_refused_naming_the_known_ones(field, registry) -> None:
    expected = ", ".join(repr(name) for name in registry)
    with pytest.raises(ValueError, match=re.escape(f"{field} must be one of {expected}, got "
                                                   "'nonesuch'")):
        Config(**{field: "nonesuch"})
    with pytest.raises(ValueError, match="nonesuch"):
        Config.from_json(Config().to_json().replace(f'"{field}": "', f'"{field}": "nonesuch'))


def test_json_round_trip_keeps_every_field() -> None:
    config = Config(rebuy_weighting=True, cf="bpr", factors=12, learning_rate=0.05,
                    neighbours="bm25", trending_half_life_days=0.0, cart_trending=0.2,
                    cart_neighbours_kind="copurchase")
    raw = config.to_json()
    assert json.loads(raw) == dataclasses.asdict(config)
    assert Config.from_json(raw) == config


def test_json_of_another_version_keeps_the_known_fields_only() -> None:
    stored = {**json.loads(Config(factors=9).to_json()), "a_field_of_tomorrow": 1}
    del stored["cart_trending"]  # a field of today that an older model did not store
    assert Config.from_json(json.dumps(stored)) == Config(factors=9)


def test_strategy_names_the_taste_and_the_neighbours() -> None:
    assert Config().strategy == "als+copurchase"
    assert Config(cf="bpr", neighbours="bm25").strategy == "bpr+bm25"
    assert Config(cart_neighbours_kind="bm25").strategy == "als+copurchase, carts bm25"
    assert Config(cart_neighbours_kind="copurchase").strategy == "als+copurchase"


def test_carts_take_the_shared_neighbours_unless_named() -> None:
    assert Config().cart_kind == "copurchase" and Config(neighbours="bm25").cart_kind == "bm25"
    assert Config(cart_neighbours_kind="bm25").cart_kind == "bm25"
    assert type(Config(cart_neighbours_kind="bm25").item_neighbours("bm25")) is Bm25ItemKnn


@pytest.mark.parametrize(("config", "taste", "neighbours"), [
    (Config(), AlsTaste, CoPurchase), (Config(cf="bpr", neighbours="bm25"), BprTaste, Bm25ItemKnn)])
def test_config_makes_the_unfitted_models_it_names(config, taste, neighbours) -> None:
    made = config.taste()
    assert type(made) is taste and made.settings is config and made.item_factors.size == 0
    assert type(config.item_neighbours()) is neighbours


def test_config_cannot_change_after_it_is_made() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().cf = "bpr"  # type: ignore[misc]
