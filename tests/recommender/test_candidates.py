"""The per-shop choice's candidates and their names (recommender.candidates)."""

from __future__ import annotations

from recommender.candidates import (
    candidate_name,
    customer_candidates,
    label,
    personal_candidates,
)
from recommender.config import Config
from recommender.matrix import build_interactions
from tests.recommender.repeat_shop import repeat_heavy_shop


def test_the_default_personal_model_comes_first() -> None:
    candidates = personal_candidates(build_interactions(repeat_heavy_shop(customers=40)))
    assert candidates[0] == Config()
    assert {c.cf for c in candidates} == {"als", "bpr"}


def test_customer_candidates_are_valid_and_distinct() -> None:
    candidates = customer_candidates()
    assert {c.customers for c in candidates} == {"tifu", "upcf"}
    assert len({c.to_json() for c in candidates}) == len(candidates)
    for config in candidates:
        assert config.customer_neighbours().settings is config


def test_labels_name_what_differs_from_the_first_of_the_same_model() -> None:
    personal = [Config(), Config(factors=16), Config(cf="bpr", iterations=100)]
    assert [label(c, personal) for c in personal] == ["als", "als factors=16", "bpr"]
    customers = customer_candidates()
    assert label(customers[0], customers) == "tifu"
    assert label(customers[1], customers) == "upcf"
    assert label(customers[2], customers).startswith("upcf upcf_recency=100")


def test_candidate_names_leave_out_what_their_task_does_not_use() -> None:
    assert candidate_name("als", "bm25", 14.0) == "als+bm25, trending 14 d"
    assert candidate_name("*", "copurchase", 0.0) == "copurchase, popularity"
    assert candidate_name("bpr", "*", 60.0) == "bpr, trending 60 d"
