"""The per-shop choice's search (recommender.tuning): every candidate's scores on the
held-out cases, from matrices of component scores, and the configuration they choose.

Each task's blends are scored over a grid of weights (NURTURE_GRID, DISCOVERY_GRID,
CART_GRID; the last weight is trending's) for each trending half-life, from its components,
each scaled to a top of 1 per case exactly as ShopModel does:

- nurture: the customer's own purchases (decayed; times rebuy rates; or the learned chance of
  a repeat, recommender.repeat), taste, customer neighbours;
- discovery: taste, item neighbours of the latest purchases, customer neighbours;
- carts: item neighbours of the cart.

The learned repeats are fitted with the first item neighbours, always (cheap, and what
repeat-heavy shops need most). Customer neighbours (recommender.customers) are chosen next,
within the budget, before the personal models: each of customer_candidates() is scored in a
small blend with the own purchases (nurture) and on its own (discovery), and the one that
lifts those most over leaving them out (if any) joins the grids, its weights tried in a
second step around each blend's best (_add_customers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from itertools import product
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.candidates import (
    candidate_name,
    customer_candidates,
    label,
    personal_candidates,
)
from recommender.config import Config
from recommender.evaluation import Cases
from recommender.history import LATEST_HALF_LIFE_DAYS, rebuy_rates, recent_purchases
from recommender.matrix import Purchase, build_interactions
from recommender.models import trending_scores
from recommender.neighbours import NEIGHBOURS, ItemNeighbours
from recommender.plain import BASELINES, Plain
from recommender.ranking import share_rows
from recommender.repeat import RepeatModel
from recommender.taste import PersonalTaste
from recommender.validation import (
    CANDIDATES,
    Gathered,
    Task,
    dense,
    relevance,
    score_exactly,
    sparse_rows,
)

HALF_LIVES = (14.0, 60.0, 0.0)
# weights: nurture (own, taste, customers, trending), discovery (taste, neighbours,
# customers, trending), carts (neighbours, trending)
NURTURE_GRID = [w for w in product((0.0, 1.0), (0.0, 0.3, 1.0), (0.0, 0.3, 1.0),
                                   (0.0, 0.2, 0.5, 1.0, 3.0)) if any(w)]
DISCOVERY_GRID = [w for w in product((0.0, 1.0), (0.0, 0.5, 1.0, 2.0), (0.0, 0.5, 2.0),
                                     (0.0, 0.1, 0.5, 2.0)) if any(w)]
CART_GRID = [w for w in product((0.0, 1.0), (0.0, 0.05, 0.2, 1.0)) if any(w)]
CUSTOMERS_AT = 2  # the customer neighbours' place in the nurture and discovery weights
# the small blends customer candidates are scored in: nurture (own, customers, trending),
# discovery (customers, trending)
CUSTOMER_NURTURE_GRID = [w for w in product((0.0, 1.0), (0.0, 0.3, 1.0, 3.0), (0.0, 0.2, 1.0))
                         if any(w)]
CUSTOMER_DISCOVERY_GRID = [w for w in product((0.0, 0.5, 1.0, 2.0), (0.0, 0.1, 0.5, 2.0))
                           if any(w)]
# the buy-again signals nurture tries (its last weight, the tag): decayed orders, times rebuy
# rates, the learned chance of a repeat
OWN_SIGNALS = ("decayed", "rebuy", "learned")


FALLBACK = {"nurture": "nurture_fallback", "discovery": "discovery_fallback",
            "upsell": "cart_fallback"}
WEIGHTS = {
    "nurture": ("nurture_own", "nurture_taste", "nurture_customers", "nurture_trending",
                "own_signal"),
    "discovery": ("discovery_taste", "discovery_neighbours", "discovery_customers",
                  "discovery_trending"),
    "upsell": ("cart_neighbours", "cart_trending"),
}


class Search:
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
        self.n_own = {0: share_rows(own),
                      1: share_rows(own * rebuy_rates(data.user_items)[None, :])}
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
        # the customer neighbours chosen (None: none helps) and their rows of the case users
        self.customers: Config | None = None
        self.customer_rows: dict[str, np.ndarray] = {}
        self.customer_scores: dict[str, dict[str, float]] = {}  # candidate -> task -> score
        self._gathered_by: dict[tuple[str, str, str, int], Gathered] = {}

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
                self._grid(self.upsell, ("*", kind), CART_GRID,
                           self._gathered(self.upsell, "", kind))
            if len(self.neighbours) == 1:  # always, and cheap: what repeat-heavy shops need
                self._learn_repeats()
        if self._time_left():
            self._customer_neighbours()
        spent = 0.0  # the last personal model's fit and scoring: the next one costs as much
        for config in self.candidates:  # at least (twice the factors, BPR's 100 iterations)
            if self.fitted and not self._time_left(spent):
                break
            started = time.perf_counter()
            self._personal(config)
            spent = time.perf_counter() - started

    def _personal(self, config: Config) -> None:
        """Fit the personal model of `config` and score the nurture and discovery grids with
        it: every item neighbours and buy-again signal (the first personal model; the next
        ones the signal it chose) without customer neighbours, then the customer neighbours'
        weights (_add_customers)."""
        name = label(config, self.candidates)
        self.tastes[name] = config.taste().fit(self.data.user_items)
        self._gathered_by.clear()  # the last personal model's
        owns = list(self.n_own) if not self.fitted else [self._first_own()]
        self.fitted.append(config)
        self.configs[name] = config
        without = [w for w in NURTURE_GRID if not w[CUSTOMERS_AT]]
        for own in owns:
            self._grid(self.nurture, (name, "*"), without, self._gathered(self.nurture, name,
                                                                          "", own),
                       tag=(float(own),))
        without = [w for w in DISCOVERY_GRID if not w[CUSTOMERS_AT]]
        for kind in self.neighbours:
            self._grid(self.discovery, (name, kind), without,
                       self._gathered(self.discovery, name, kind))
        if self.customers is not None:
            self._add_customers(self.nurture, (name, "*"), NURTURE_GRID)
            for kind in self.neighbours:
                self._add_customers(self.discovery, (name, kind), DISCOVERY_GRID)

    def _learn_repeats(self) -> None:
        """The learned chance of a repeat, a third buy-again signal, when the history allows
        (recommender.repeat)."""
        model = RepeatModel.fit(self.data)
        if model is not None and len(self.nurture):
            self.n_own[2] = share_rows(dense(model.scores(self.data)[self.n_users]))

    def _customer_neighbours(self) -> None:
        """The customer neighbours that lift a small blend most, within the budget (module
        doc)."""
        if not len(self.nurture) or not len(self.discovery):
            return
        users = np.union1d(self.n_users, self.d_users)
        at = {"nurture": np.searchsorted(users, self.n_users),
              "discovery": np.searchsorted(users, self.d_users)}
        base = {"nurture": self._small(self.nurture, [self.n_own[0], None],
                                       CUSTOMER_NURTURE_GRID),
                "discovery": self._small(self.discovery, [None], CUSTOMER_DISCOVERY_GRID)}
        best, best_merit, spent = None, 1.0 + 1e-9, 0.0
        candidates = customer_candidates()
        for config in candidates:
            if not self._time_left(spent):  # the next costs about what the last did
                break
            started = time.perf_counter()
            rows = dense(config.customer_neighbours().rows(self.data, users))
            parts = {task: share_rows(rows[at[task]]) for task in at}
            scores = {"nurture": self._small(self.nurture, [self.n_own[0], parts["nurture"]],
                                             CUSTOMER_NURTURE_GRID),
                      "discovery": self._small(self.discovery, [parts["discovery"]],
                                               CUSTOMER_DISCOVERY_GRID)}
            self.customer_scores[label(config, candidates)] = {
                task: round(score, 4) for task, score in scores.items()}
            merit = float(np.mean([scores[t] / base[t] if base[t] > 0 else 1.0 + scores[t]
                                   for t in scores]))
            if merit > best_merit:
                best, best_merit, self.customer_rows = config, merit, parts
            spent = time.perf_counter() - started
        self.customers = best

    def _small(self, task: Task, parts: list[np.ndarray | None],
               grid: Sequence[tuple[float, ...]]) -> float:
        """The best score of `grid`'s weights (a None part's weight kept 0) on `task` for
        any trending half-life."""
        weights = [w for w in grid if all(not w[k] for k, part in enumerate(parts)
                                          if part is None)]
        gathered = Gathered(task, parts, self.trending_top)
        best = 0.0
        for half_life in HALF_LIVES:
            trend = gathered.trending(self.trending[half_life])
            for w in weights:
                best = max(best, gathered.score(w, trend))
                self.scored += 1
        return best

    def _first_own(self) -> int:
        """The buy-again signal (OWN_SIGNALS' index) of the first personal model's best
        nurture blend."""
        first = label(self.fitted[0], self.candidates)
        found = [value for key, value in self.results.items()
                 if key[0] == "nurture" and key[1] == first]
        return int(max(found)[1][-1]) if found else 0

    def _add_customers(self, task: Task, key: tuple[str, str],
                       grid: Sequence[tuple[float, ...]]) -> None:
        """A second step, not every combination again: with the half-life (and nurture's
        buy-again signal) that scored best for `key` without customer neighbours, each weight
        of that best blend or 0, each of `grid`'s non-zero weights of customer neighbours and
        each of its trending weights."""
        found = [(self.results[(task.name, *key, h)], h) for h in HALF_LIVES
                 if (task.name, *key, h) in self.results]
        if not len(task) or not found:
            return
        (_, best), half_life = max(found, key=lambda entry: entry[0][0])
        size = len(grid[0])
        own = int(best[size]) if len(best) > size else 0
        choices = [sorted({0.0, best[k]}) for k in range(size - 1)]
        choices[CUSTOMERS_AT] = sorted({w[CUSTOMERS_AT] for w in grid} - {0.0})
        weights = [(*w, t) for w in product(*choices) for t in sorted({w[-1] for w in grid})]
        name, kind = key
        self._grid(task, key, [w for w in weights if any(w)],
                   self._gathered(task, name, "" if kind == "*" else kind, own),
                   tag=(float(own),) if task is self.nurture else (), half_lives=(half_life,))

    def _parts(self, task: str, name: str, kind: str, own: int = 0
               ) -> list[np.ndarray | None]:
        """The component scores (cases, items) of `task`, each scaled to a top of 1 per case,
        in the order of the task's weights (trending, the last weight, comes separately); None
        for customer neighbours when none were chosen."""
        if task == "upsell":
            return [share_rows(self.neighbours[kind].scores_batch(self.u_carts))]
        users = self.n_users if task == "nurture" else self.d_users
        model = self.tastes[name]
        taste = share_rows(model.score(model.user_factors[users]))
        customers = self.customer_rows.get(task)
        if task == "nurture":
            return [self.n_own[own], taste, customers]
        return [taste, share_rows(self.neighbours[kind].scores_batch(self.d_latest)), customers]

    def _gathered(self, task: Task, name: str, kind: str, own: int = 0) -> Gathered:
        """The Gathered parts of `task` (`_parts`), kept while the personal model is scored."""
        key = (task.name, name, kind, own)
        if key not in self._gathered_by:
            self._gathered_by[key] = Gathered(task, self._parts(task.name, name, kind, own),
                                              self.trending_top)
        return self._gathered_by[key]

    def _grid(self, task: Task, key: tuple[str, str], grid: Sequence[tuple[float, ...]],
              gathered: Gathered, tag: tuple[float, ...] = (),
              half_lives: Sequence[float] = HALF_LIVES) -> None:
        """Score every weight vector of `grid` for each trending half-life; keep the best
        (over earlier calls for the same key too). `tag` is appended to the weights kept: the
        setting `gathered` was made with (nurture: its buy-again signal, OWN_SIGNALS)."""
        if not len(task):
            return
        for half_life in half_lives:
            trend = gathered.trending(self.trending[half_life])
            result_key = (task.name, *key, half_life)
            best = self.results.get(result_key, (-1.0, (*grid[0], *tag)))
            for weights in grid:
                value = gathered.score(weights, trend)
                self.scored += 1
                if value > best[0] + 1e-12:
                    best = (value, (*weights, *tag))
            self.results[result_key] = best

    def _single(self, task: Task, name: str, kind: str, half_life: float,
                weights: tuple[float, ...], own: int = 0) -> float:
        """The score of one configuration's own weights on `task`."""
        gathered = self._gathered(task, name, kind, own)
        return gathered.score(weights, gathered.trending(self.trending[half_life]))

    def _best_for(self, task: str, name: str, kind: str, half_life: float
                  ) -> tuple[float, tuple[float, ...]] | None:
        if task == "upsell":  # carts take whichever neighbours complete them best
            kind = self._cart_kind(kind, half_life)
        key = (task, "*" if task == "upsell" else name, "*" if task == "nurture" else kind,
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
        default_name = label(default, self.candidates)
        tasks = [t for t in (self.nurture, self.discovery, self.upsell)
                 if self._best_for(t.name, default_name, default.neighbours,
                                   default.trending_half_life_days) is not None]

        def merit(name: str, kind: str, half_life: float) -> float:
            ratios = []
            for task in tasks:
                mine = self._best_for(task.name, name, kind, half_life)
                base = self._best_for(task.name, default_name, default.neighbours,
                                      default.trending_half_life_days)
                if mine is None or base is None:
                    return -math.inf
                ratios.append(mine[0] / base[0] if base[0] > 0 else 1.0 + mine[0])
            return float(np.mean(ratios)) if ratios else 0.0

        name, kind, half_life = max(product(self.configs, self.neighbours, HALF_LIVES),
                                    key=lambda key: merit(*key))
        cart_kind = self._cart_kind(kind, half_life)
        config = replace(self.configs[name], neighbours=kind, trending_half_life_days=half_life,
                         cart_neighbours_kind="" if cart_kind == kind else cart_kind)
        chosen = {}
        for task in tasks:
            found = self._best_for(task.name, name, kind, half_life)
            assert found is not None
            chosen[task.name], weights = round(found[0], 4), found[1]
            updates: dict[str, Any] = dict(zip(WEIGHTS[task.name], weights, strict=True))
            own = OWN_SIGNALS[int(updates.pop("own_signal", 0.0))]
            if task.name == "nurture":
                updates.update(rebuy_weighting=own == "rebuy", repeat_model=own == "learned")
            config = replace(config, **updates)
        if self.customers is not None and (config.nurture_customers
                                           or config.discovery_customers):
            config = replace(config, **{f.name: getattr(self.customers, f.name)
                                        for f in fields(Config) if f.name.startswith(
                                            ("customers", "tifu_", "upcf_"))})
        blends = dict(chosen)
        for task in tasks:  # a baseline the blend does not beat serves the task
            baseline = self._best_baseline(task.name)
            if baseline is not None and self.baselines[task.name][baseline] >= chosen[task.name]:
                fallback: dict[str, Any] = {FALLBACK[task.name]: baseline}
                config = replace(config, **fallback)
                chosen[task.name] = self.baselines[task.name][baseline]
        self.verdicts = {t.name: self._verdict(t.name, blends[t.name], config,
                                               (name, kind, half_life)) for t in tasks}
        popularity = {"nurture": (0.0, 0.0, 0.0, 1.0), "discovery": (0.0, 0.0, 0.0, 1.0),
                      "upsell": (0.0, 1.0)}
        return config, {
            "chosen": chosen,
            "default": {t.name: round(self._single(
                t, default_name, default.neighbours, default.trending_half_life_days,
                tuple(getattr(default, w) for w in WEIGHTS[t.name][:len(popularity[t.name])])),
                4) for t in tasks},
            "popularity": {t.name: round(self._single(
                t, default_name, default.neighbours, 0.0, popularity[t.name]), 4)
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
        fallback = getattr(config, FALLBACK[task])
        served = fallback or f"blend of {config.strategy.split(';')[0]}"
        name, kind, half_life = shared
        kind = self._cart_kind(kind, half_life) if task == "upsell" else kind
        verdict: dict[str, Any] = {"served_by": served, "blend": blend, "candidate": (
            candidate_name("*" if task == "upsell" else name,
                           "*" if task == "nurture" else kind, half_life))}
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
        for (task, name, kind, half_life), (score, _) in self.results.items():
            found.setdefault(task, []).append((candidate_name(name, kind, half_life),
                                               round(score, 4)))
        return {task: sorted(scored, key=lambda c: -c[1]) for task, scored in found.items()}
