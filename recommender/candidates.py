"""The candidates of the per-shop choice (recommender.search): personal models and customer
neighbours to try, and the names its report gives them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from recommender.config import Config
from recommender.matrix import Interactions
from recommender.taste import default_factors


def personal_candidates(data: Interactions) -> list[Config]:
    """Personal-model configurations to try, in order (the default first)."""
    base = default_factors(data.n_users, data.n_items)
    return [
        Config(),
        Config(factors=min(2 * base, 128)),
        Config(regularization=1.0),
        Config(cf="bpr", iterations=100, learning_rate=0.05, regularization=0.01),
    ]


def customer_candidates() -> list[Config]:
    """Customer neighbours to try: TIFU-KNN as its authors set it for TaFeng (k 300, r_b 0.9,
    r_g 0.7, 7 groups), UP-CF@r as the Reality Check set it (r 10, asymmetry 0.75, locality
    10, 100 neighbours) and UP-CF@r close to plain user-kNN (r 100, 0.5, 1)."""
    return [
        Config(customers="tifu", customers_k=300, tifu_within=0.9, tifu_across=0.7,
               tifu_groups=7),
        Config(customers="upcf", customers_k=100, upcf_recency=10, upcf_asymmetry=0.75,
               upcf_locality=10.0),
        Config(customers="upcf", customers_k=100, upcf_recency=100, upcf_asymmetry=0.5,
               upcf_locality=1.0),
    ]


def label(config: Config, candidates: Sequence[Config]) -> str:
    """The model's name and the settings in which `config` differs from the first of
    `candidates` with the same model, e.g. "als factors=16" ("tifu customers_k=100")."""
    def kind(c: Config) -> str:
        return c.customers or c.cf

    first = next((c for c in candidates if kind(c) == kind(config)), config)
    changed = [f"{f.name}={getattr(config, f.name)}" for f in fields(config)
               if getattr(config, f.name) != getattr(first, f.name)]
    return " ".join([kind(config), *changed])


def candidate_name(model: str, kind: str, half_life: float) -> str:
    """A blend candidate's name: its personal model and neighbours (those its task uses) and
    its trending half-life, e.g. "als+bm25, trending 14 d"."""
    trend = f"trending {half_life:g} d" if half_life else "popularity"
    return f"{'+'.join(part for part in (model, kind) if part != '*')}, {trend}"
