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
- buy-again by the customer's decayed orders alone, or weighted by each product's rebuy rate;
- the blend weights of each task (Config's nurture_*, discovery_*, cart_*), popularity alone
  among them, so a shop where customers just buy the bestsellers (groceries) gets it.

The blends are scored for all held-out cases at once from the component scores, each scaled
to a top of 1 per case exactly as ShopModel does. Shared parts (personal model, neighbours,
half-life) are chosen by the mean over tasks of the best score they allow relative to the
defaults (carts counting with their own best neighbours); then each task takes its best
weights under them. Every baseline of recommender.plain (popularity, own history,
co-occurrence, ALS with implicit's defaults, BM25 item-kNN) is scored on the same cases, first
and always: a task whose best blend does not beat the best baseline falls back to it (Config's
*_fallback). The report holds the choice, the validation window, the scores of the chosen,
default and popularity configurations, every baseline's and every blend's score per task, and
what serves each task and why (the API and the dashboard show them with the model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from itertools import product
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.config import Config
from recommender.evaluation import Cases
from recommender.history import LATEST_HALF_LIFE_DAYS, rebuy_rates, recent_purchases
from recommender.matrix import Interactions, Purchase, build_interactions
from recommender.models import trending_scores
from recommender.neighbours import NEIGHBOURS, ItemNeighbours
from recommender.plain import BASELINES, Plain
from recommender.ranking import share_rows
from recommender.shop_model import ShopModel
from recommender.taste import PersonalTaste, default_factors
from recommender.validation import (
    CANDIDATES,
    Gathered,
    K,
    Task,
    dense,
    next_basket_cases,
    relevance,
    sample,
    score_exactly,
    sparse_rows,
)

DAY = 86400.0
TUNING_BUDGET_SECONDS = 60.0
VALIDATION_SHARE = 0.2
MAX_VALIDATION_DAYS = 120.0
MIN_SPAN_DAYS = 28.0
MIN_CASES = 20  # a task with fewer held-out cases keeps its default weights
MAX_CASES = 1500  # per task, sampled with a fixed seed: enough to rank, fast to score
MAX_CELLS = 30_000_000  # cases x products of a task's score matrices: large catalogs get fewer

HALF_LIVES = (14.0, 60.0, 0.0)
NURTURE_GRID = [w for w in product((0.0, 1.0), (0.0, 0.3, 1.0), (0.0, 0.2, 0.5, 1.0, 3.0))
                if any(w)]
DISCOVERY_GRID = [w for w in product((0.0, 1.0), (0.0, 0.5, 1.0, 2.0), (0.0, 0.1, 0.5, 2.0))
                  if any(w)]
CART_GRID = [w for w in product((0.0, 1.0), (0.0, 0.05, 0.2, 1.0)) if any(w)]


def personal_candidates(data: Interactions) -> list[Config]:
    """Personal-model configurations to try, in order (the default first)."""
    base = default_factors(data.n_users, data.n_items)
    return [
        Config(),
        Config(factors=min(2 * base, 128)),
        Config(regularization=1.0),
        Config(cf="bpr", iterations=100, learning_rate=0.05, regularization=0.01),
    ]


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
    span_days = (last - first) / DAY
    if span_days < MIN_SPAN_DAYS:
        return _defaults(f"history spans {span_days:.0f} days, fewer than {MIN_SPAN_DAYS:.0f}")
    cutoff = last - min(VALIDATION_SHARE * span_days, MAX_VALIDATION_DAYS) * DAY
    train = [p for p in rows if p.timestamp < cutoff]
    held_out = [p for p in rows if p.timestamp >= cutoff]
    catalog = len({p.product_id for p in train})
    cases = sample(next_basket_cases(train, held_out, seed),
                   max(MIN_CASES, min(MAX_CASES, MAX_CELLS // max(catalog, 1))), seed)
    counts = {"nurture": len(cases.nurture), "discovery": len(cases.discovery),
              "upsell": len(cases.upsell)}
    if max(counts.values()) < MIN_CASES:
        return _defaults(f"too few held-out cases to validate on ({counts})")
    search = _Search(train, cases, deadline=started + budget_seconds)
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
        "personal_models_tried": [_label(c, search.candidates) for c in search.fitted],
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


def _label(config: Config, candidates: Sequence[Config]) -> str:
    """The personal model's name and the settings in which `config` differs from the first
    of `candidates` with the same model, e.g. "als factors=16"."""
    first = next((c for c in candidates if c.cf == config.cf), config)
    changed = [f"{f.name}={getattr(config, f.name)}" for f in fields(config)
               if getattr(config, f.name) != getattr(first, f.name)]
    return " ".join([config.cf, *changed])


def _defaults(why: str) -> Choice:
    config = Config()
    return Choice(config, {"chosen_by": "defaults", "why": why, "strategy": config.strategy})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()


class _Search:
    """Every candidate's scores on the held-out cases, from matrices of component scores."""

    def __init__(self, train: Sequence[Purchase], cases: Cases, deadline: float) -> None:
        self.deadline = deadline
        self.exhausted = False
        self.scored = 0
        self.data = data = build_interactions(train)
        self.plain = Plain.fit(data)
        self.baselines: dict[str, dict[str, float]] = {}  # task -> baseline -> score
        self.verdicts: dict[str, dict[str, Any]] = {}  # task -> what serves it and why
        n_items = data.n_items
        index = {item: i for i, item in enumerate(data.item_ids.tolist())}
        users = {user: u for u, user in enumerate(data.user_ids.tolist())}
        self.trending = {h: share_rows(trending_scores(data, h)[None, :])[0]
                         for h in HALF_LIVES}
        self.trending_top = np.unique(np.concatenate(
            [np.argsort(-t, kind="stable")[:CANDIDATES] for t in self.trending.values()]))
        # nurture: every case customer has training orders (build_cases)
        self.n_users = np.array([users[c] for c, _ in cases.nurture], dtype=np.int64)
        self.nurture = Task("nurture", *relevance(cases.nurture, index, n_items), None)
        own = dense(recent_purchases(train, data)[self.n_users])
        self.n_own = {False: share_rows(own),
                      True: share_rows(own * rebuy_rates(data.user_items)[None, :])}
        # discovery: never-bought items only
        self.d_users = np.array([users[c] for c, _ in cases.discovery], dtype=np.int64)
        self.discovery = Task("discovery", *relevance(cases.discovery, index, n_items),
                               dense(data.user_items[self.d_users]) > 0)
        self.d_latest = sp.csr_matrix(
            recent_purchases(train, data, LATEST_HALF_LIFE_DAYS)[self.d_users])
        # upsell: carts of known products; a hidden product unknown to training is a miss
        self.u_carts = sparse_rows(
            [[index[p] for p in cart if p in index] for cart, _ in cases.upsell], n_items)
        hidden = np.zeros((len(cases.upsell), n_items), dtype=bool)
        for row, (_, product_id) in enumerate(cases.upsell):
            if product_id in index:
                hidden[row, index[product_id]] = True
        self.upsell = Task("upsell", hidden, None, dense(self.u_carts) > 0)
        self.candidates = personal_candidates(data)
        self.fitted: list[Config] = []
        self.neighbours: dict[str, ItemNeighbours] = {}
        # (task, cf label, neighbours, half-life) -> (score, weights)
        self.results: dict[tuple[str, str, str, float], tuple[float, tuple[float, ...]]] = {}
        self.configs: dict[str, Config] = {}
        self.tastes: dict[str, PersonalTaste] = {}

    def _time_left(self, needed: float = 0.0) -> bool:
        """Whether `needed` more seconds end before the deadline (else the budget is spent)."""
        if time.perf_counter() + needed > self.deadline:
            self.exhausted = True
        return not self.exhausted

    def run(self) -> None:
        for name in BASELINES:  # always: they are what the candidates must beat
            for task in (self.nurture, self.discovery, self.upsell):
                if len(task):
                    users = self.n_users if task is self.nurture else self.d_users
                    scores = (self.plain.carts(name, self.u_carts) if task is self.upsell else
                              self.plain.customers(name, users, self.data.user_items[users]))
                    self.baselines.setdefault(task.name, {})[name] = round(
                        score_exactly(task, scores), 4)
        for kind, neighbours in NEIGHBOURS.items():
            if not self.neighbours or self._time_left():
                self.neighbours[kind] = neighbours().fit(self.data)
                self._grid(self.upsell, ("*", kind), CART_GRID, self._parts("upsell", "", kind))
        spent = 0.0  # the last personal model's fit and scoring: the next one costs as much
        for config in self.candidates:  # at least (twice the factors, BPR's 100 iterations)
            if self.fitted and not self._time_left(spent):
                break
            started = time.perf_counter()
            label = _label(config, self.candidates)
            self.tastes[label] = config.taste().fit(self.data.user_items)
            self.fitted.append(config)
            self.configs[label] = config
            for rebuy in (False, True):
                self._grid(self.nurture, (label, "*"), NURTURE_GRID,
                           self._parts("nurture", label, "", rebuy), tag=(float(rebuy),))
            for kind in self.neighbours:
                self._grid(self.discovery, (label, kind), DISCOVERY_GRID,
                           self._parts("discovery", label, kind))
            spent = time.perf_counter() - started

    def _parts(self, task: str, label: str, kind: str, rebuy: bool = False
               ) -> list[np.ndarray]:
        """The component scores (cases, items) of `task`, each scaled to a top of 1 per case,
        in the order of the task's weights (trending, the last weight, comes separately)."""
        if task == "upsell":
            return [share_rows(self.neighbours[kind].scores_batch(self.u_carts))]
        users = self.n_users if task == "nurture" else self.d_users
        model = self.tastes[label]
        taste = share_rows(model.score(model.user_factors[users]))
        if task == "nurture":
            return [self.n_own[rebuy], taste]
        return [taste, share_rows(self.neighbours[kind].scores_batch(self.d_latest))]

    def _grid(self, task: Task, key: tuple[str, str], grid: Sequence[tuple[float, ...]],
              parts: list[np.ndarray], tag: tuple[float, ...] = ()) -> None:
        """Score every weight vector of `grid` for each trending half-life; keep the best
        (over earlier calls for the same key too). `tag` is appended to the weights kept: the
        setting `parts` were made with (nurture: rebuy weighting)."""
        if not len(task):
            return
        gathered = Gathered(task, parts, self.trending_top)
        for half_life in HALF_LIVES:
            trend = gathered.trending(self.trending[half_life])
            result_key = (task.name, *key, half_life)
            best = self.results.get(result_key, (-1.0, (*grid[0], *tag)))
            for weights in grid:
                value = gathered.score(weights, trend)
                self.scored += 1
                if value > best[0] + 1e-12:
                    best = (value, (*weights, *tag))
            self.results[result_key] = best

    def _single(self, task: Task, label: str, kind: str, half_life: float,
                weights: tuple[float, ...], rebuy: bool = False) -> float:
        """The score of one configuration's own weights on `task`."""
        gathered = Gathered(task, self._parts(task.name, label, kind, rebuy),
                             self.trending_top)
        return gathered.score(weights, gathered.trending(self.trending[half_life]))

    def _best_for(self, task: str, label: str, kind: str, half_life: float
                  ) -> tuple[float, tuple[float, ...]] | None:
        if task == "upsell":  # carts take whichever neighbours complete them best
            kind = self._cart_kind(kind, half_life)
        key = (task, "*" if task == "upsell" else label, "*" if task == "nurture" else kind,
               half_life)
        return self.results.get(key)

    def _cart_kind(self, kind: str, half_life: float) -> str:
        """The neighbours that score best on the carts with `half_life`: `kind` (the shared
        one) unless another scores strictly higher."""
        def score(name: str) -> float:
            found = self.results.get(("upsell", "*", name, half_life))
            return -1.0 if found is None else found[0]
        return max(self.neighbours, key=lambda name: (score(name), name == kind))

    def best(self) -> tuple[Config, dict[str, dict[str, float]]]:
        default = Config()
        default_label = _label(default, self.candidates)
        tasks = [t for t in (self.nurture, self.discovery, self.upsell)
                 if self._best_for(t.name, default_label, default.neighbours,
                                   default.trending_half_life_days) is not None]

        def merit(label: str, kind: str, half_life: float) -> float:
            ratios = []
            for task in tasks:
                mine = self._best_for(task.name, label, kind, half_life)
                base = self._best_for(task.name, default_label, default.neighbours,
                                      default.trending_half_life_days)
                if mine is None or base is None:
                    return -math.inf
                ratios.append(mine[0] / base[0] if base[0] > 0 else 1.0 + mine[0])
            return float(np.mean(ratios)) if ratios else 0.0

        label, kind, half_life = max(product(self.configs, self.neighbours, HALF_LIVES),
                                     key=lambda key: merit(*key))
        cart_kind = self._cart_kind(kind, half_life)
        config = replace(self.configs[label], neighbours=kind, trending_half_life_days=half_life,
                         cart_neighbours_kind="" if cart_kind == kind else cart_kind)
        chosen = {}
        for task in tasks:
            found = self._best_for(task.name, label, kind, half_life)
            assert found is not None
            chosen[task.name], weights = round(found[0], 4), found[1]
            updates: dict[str, Any] = dict(zip(_WEIGHTS[task.name], weights, strict=True))
            if "rebuy_weighting" in updates:
                updates["rebuy_weighting"] = bool(updates["rebuy_weighting"])
            config = replace(config, **updates)
        blends = dict(chosen)
        for task in tasks:  # a baseline the blend does not beat serves the task
            baseline = self._best_baseline(task.name)
            if baseline is not None and self.baselines[task.name][baseline] >= chosen[task.name]:
                fallback: dict[str, Any] = {_FALLBACK[task.name]: baseline}
                config = replace(config, **fallback)
                chosen[task.name] = self.baselines[task.name][baseline]
        self.verdicts = {t.name: self._verdict(t.name, blends[t.name], config,
                                               (label, kind, half_life)) for t in tasks}
        popularity = {"nurture": (0.0, 0.0, 1.0), "discovery": (0.0, 0.0, 1.0),
                      "upsell": (0.0, 1.0)}
        return config, {
            "chosen": chosen,
            "default": {t.name: round(self._single(
                t, default_label, default.neighbours, default.trending_half_life_days,
                tuple(getattr(default, w) for w in _WEIGHTS[t.name][:len(popularity[t.name])]),
                default.rebuy_weighting), 4) for t in tasks},
            "popularity": {t.name: round(self._single(
                t, default_label, default.neighbours, 0.0, popularity[t.name]), 4)
                for t in tasks},
        }


    def _best_baseline(self, task: str) -> str | None:
        """The baseline scoring best on `task` (ties: the first of BASELINES, the simplest)."""
        scores = self.baselines.get(task, {})
        return max(scores, key=lambda name: (scores[name], -BASELINES.index(name)),
                   default=None)

    def _verdict(self, task: str, blend: float, config: Config,
                 shared: tuple[str, str, float]) -> dict[str, Any]:
        """What serves `task` and why: the chosen blend (`shared`: its personal model,
        neighbours and half-life) against the best baseline."""
        baseline = self._best_baseline(task)
        fallback = getattr(config, _FALLBACK[task])
        served = fallback or f"blend of {config.strategy.split(';')[0]}"
        label, kind, half_life = shared
        kind = self._cart_kind(kind, half_life) if task == "upsell" else kind
        verdict: dict[str, Any] = {"served_by": served, "blend": blend, "candidate": _name(
            "*" if task == "upsell" else label, "*" if task == "nurture" else kind, half_life)}
        if baseline is None:
            return {**verdict, "why": "no baseline scored"}
        top = self.baselines[task][baseline]
        against = (f"{blend / top:.2f}x the best baseline ({baseline}, {top:.4f})" if top > 0
                   else f"every baseline scores 0 (first: {baseline})")
        why = (f"no blend beat {baseline} ({blend:.4f} vs {top:.4f}): {baseline} serves it"
               if fallback else f"the best blend scores {blend:.4f}, {against}")
        return {**verdict, "best_baseline": baseline, "baseline": top, "why": why}

    def blends(self) -> dict[str, list[tuple[str, float]]]:
        """Per task, every blend scored (its best weights), best first."""
        found: dict[str, list[tuple[str, float]]] = {}
        for (task, label, kind, half_life), (score, _) in self.results.items():
            found.setdefault(task, []).append((_name(label, kind, half_life), round(score, 4)))
        return {task: sorted(scored, key=lambda c: -c[1]) for task, scored in found.items()}


def _name(label: str, kind: str, half_life: float) -> str:
    """A blend candidate's name: its personal model and neighbours (those its task uses) and
    its trending half-life, e.g. "als+bm25, trending 14 d"."""
    trend = f"trending {half_life:g} d" if half_life else "popularity"
    return f"{'+'.join(part for part in (label, kind) if part != '*')}, {trend}"


_FALLBACK = {"nurture": "nurture_fallback", "discovery": "discovery_fallback",
             "upsell": "cart_fallback"}
_WEIGHTS = {
    "nurture": ("nurture_own", "nurture_taste", "nurture_trending", "rebuy_weighting"),
    "discovery": ("discovery_taste", "discovery_neighbours", "discovery_trending"),
    "upsell": ("cart_neighbours", "cart_trending"),
}
