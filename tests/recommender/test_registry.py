"""Picking a strategy class by the name a Config stores (recommender.registry.pick)."""

from __future__ import annotations

import pytest

from recommender.registry import pick

REGISTRY = {"als": int, "bpr": float}


def test_a_registered_name_gives_its_entry() -> None:
    assert pick(REGISTRY, "cf", "bpr") is float


@pytest.mark.parametrize("name", ["nonesuch", "ALS", ""])
def test_an_unknown_name_names_the_field_every_known_name_and_itself(name) -> None:
    with pytest.raises(ValueError) as refused:
        pick(REGISTRY, "cf", name)
    assert str(refused.value) == f"cf must be one of 'als', 'bpr', got {name!r}"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
