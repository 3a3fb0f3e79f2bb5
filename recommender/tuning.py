"""Per-shop choice of strategy and hyperparameters by time-split validation.

A shop's history is split in time: the orders of the last VALIDATION_SHARE of its time span
(at most MAX_VALIDATION_DAYS) are held out, everything before trains candidates. The three
tasks (nurture, discovery, upsell) are scored as recommender.validation asks them: each
returning customer's next basket, and real held-out baskets with one product hidden (at most
MAX_CASES a task, fewer for a large catalog: MAX_CELLS bounds cases x products); for every
candidate, within a time budget:

- personal models (each fit once): ALS with the default factors, ALS with twice as many, ALS
  with strong regularization, BPR;
- item neighbours: co-purchase (shrunk cosine over baskets) and BM25 item-kNN, for carts
  on their own (whichever completes the shop's carts best) and for discovery;
- trending half-lives: 14 days, 60 days, none (plain popularity);
- buy-again by the customer's decayed orders alone, weighted by each product's rebuy rate,
  or by the chance of a repeat learned on the shop's history (recommender.repeat);
- customer neighbours (recommender.customers: TIFU-KNN, UP-CF@r), the one that lifts a small
  blend most, for the personal list and discovery;
- the blend weights of each task (Config's nurture_*, discovery_*, cart_*), popularity alone
  among them, so a shop where customers just buy the bestsellers (groceries) gets it.

The blends are scored for all held-out cases at once from the component scores, each scaled
to a top of 1 per case exactly as ShopModel does (recommender.search). Shared parts (personal
model, neighbours, half-life) are chosen by the mean over tasks of the best score they allow
relative to the defaults (carts counting with their own best neighbours); then each task
takes its best weights under them. Every baseline of recommender.plain (popularity, own
history, co-occurrence, ALS with implicit's defaults, BM25 item-kNN) is scored on the same
cases, first and always: a task whose best blend does not beat the best baseline falls back
to it (Config's *_fallback). The report holds the choice, the validation window, the scores
of the chosen, default and popularity configurations, every baseline's and every blend's
score per task, the customer neighbours tried, and what serves each task and why (the API
and the dashboard show them with the model).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from recommender.candidates import label, personal_candidates
from recommender.config import Config
from recommender.matrix import Interactions, Purchase
from recommender.neighbours import NEIGHBOURS
from recommender.search import HALF_LIVES, Search
from recommender.shop_model import ShopModel
from recommender.validation import DAY, MIN_SPAN_DAYS, K, held_out_cutoff, next_basket_cases, sample

__all__ = ["TUNING_BUDGET_SECONDS", "Choice", "choose", "describe_choice", "personal_candidates",
           "shared_candidates", "train_tuned"]

TUNING_BUDGET_SECONDS = 60.0
MIN_CASES = 20  # a task with fewer held-out cases keeps its default weights
MAX_CASES = 1500  # per task, sampled with a fixed seed: enough to rank, fast to score
MAX_CELLS = 30_000_000  # cases x products of a task's score matrices: large catalogs get fewer


def shared_candidates(data: Interactions) -> list[Config]:
    """Every combination of the parts the choice shares across tasks (personal model, item
    neighbours, trending half-life), blend weights at their defaults."""
    return [replace(config, neighbours=kind, trending_half_life_days=half_life)
            for config in personal_candidates(data) for kind in NEIGHBOURS
            for half_life in HALF_LIVES]


@dataclass(frozen=True)
class Choice:
    """The configuration chosen for a shop and how it was chosen (JSON-able `report`)."""

    config: Config
    report: dict[str, Any]


def train_tuned(purchases: Sequence[Purchase],
                budget_seconds: float = TUNING_BUDGET_SECONDS) -> tuple[ShopModel, Choice]:
    """Choose the shop's configuration on its own history, then train on all of it."""
    choice = choose(purchases, budget_seconds)
    return ShopModel.train(purchases, choice.config), choice


def choose(purchases: Sequence[Purchase], budget_seconds: float = TUNING_BUDGET_SECONDS,
           seed: int = 0) -> Choice:
    """The best configuration for these purchases by time-split validation (module doc)."""
    started = time.perf_counter()
    rows = [p for p in purchases if p.quantity > 0]
    if budget_seconds <= 0:
        return _defaults("no time budget for the choice (SHOPRECO_TUNING_SECONDS=0)")
    if not rows:
        return _defaults("no purchases")
    first, last = min(p.timestamp for p in rows), max(p.timestamp for p in rows)
    cutoff = held_out_cutoff(first, last)
    if cutoff is None:
        return _defaults(f"history spans {(last - first) / DAY:.0f} days, fewer than "
                         f"{MIN_SPAN_DAYS:.0f}")
    train = [p for p in rows if p.timestamp < cutoff]
    held_out = [p for p in rows if p.timestamp >= cutoff]
    catalog = len({p.product_id for p in train})
    cases = sample(next_basket_cases(train, held_out, seed),
                   max(MIN_CASES, min(MAX_CASES, MAX_CELLS // max(catalog, 1))), seed)
    counts = {"nurture": len(cases.nurture), "discovery": len(cases.discovery),
              "upsell": len(cases.upsell)}
    if max(counts.values()) < MIN_CASES:
        return _defaults(f"too few held-out cases to validate on ({counts})")
    search = Search(train, cases, deadline=started + budget_seconds)
    search.run()
    config, scores = search.best()
    report = {
        "chosen_by": "time-split validation",
        "strategy": config.strategy,
        "validation": {
            "from": _iso(cutoff), "to": _iso(last), "training_lines": len(train),
            "cases": counts, "k": K,
        },
        "scores": scores,
        "baselines": search.baselines,
        "tasks": search.verdicts,
        "candidates": search.blends(),
        "personal_models_tried": [label(c, search.candidates) for c in search.fitted],
        "repeats_learned": 2 in search.n_own,
        "customer_neighbours": {"tried": search.customer_scores, "chosen": (
            None if search.customers is None else label(search.customers, [search.customers]))},
        "configurations_scored": search.scored,
        "seconds": round(time.perf_counter() - started, 2),
        "budget_seconds": budget_seconds,
        "budget_exhausted": search.exhausted,
    }
    return Choice(config, report)


def describe_choice(choice: Choice) -> str:
    """One line: the strategy chosen and its validation scores against the defaults."""
    report = choice.report
    if report.get("chosen_by") != "time-split validation":
        return f"{report['strategy']} (defaults: {report.get('why', '')})"
    scores = report["scores"]
    parts = []
    for task, value in scores["chosen"].items():
        verdict = report.get("tasks", {}).get(task, {})
        against = (f"best baseline {verdict['best_baseline']} {verdict['baseline']:.3f}"
                   if "best_baseline" in verdict else
                   f"popularity {scores['popularity'][task]:.3f}")
        parts.append(f"{task} {value:.3f} (defaults {scores['default'][task]:.3f}, {against})")
    config = choice.config
    return (f"{report['strategy']}, trending half-life {config.trending_half_life_days:g} d; "
            f"validated on {report['validation']['from']}..{report['validation']['to']}: "
            + ", ".join(parts) + f"; {report['seconds']} s")


def _defaults(why: str) -> Choice:
    config = Config()
    return Choice(config, {"chosen_by": "defaults", "why": why, "strategy": config.strategy})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()
