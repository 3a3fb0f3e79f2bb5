"""Personal taste: the PersonalTaste interface, implicit's ALS and BPR behind it, and TASTES,
the registry of the names Config.cf may hold."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, Self, TypeAlias

import numpy as np
import scipy.sparse as sp

from recommender.models import als_from_factors, confidence_values, fit_als, fit_bpr
from recommender.rows import Row

try:  # implicit's compiled least-squares solve, the one recalculate_user calls (a private name
    # of implicit's, so tests/recommender/test_taste.py checks the installed implicit has it)
    import implicit.cpu._als as implicit_als
    _least_squares = getattr(implicit_als, "_least_squares", None)
except ImportError:  # a future implicit that moved it: recalculate_user, ~70 us slower
    _least_squares = None

Counts: TypeAlias = Row | sp.csr_matrix  # one customer's purchase counts: .indices, .data


class TasteSettings(Protocol):
    """The hyperparameters a taste model reads (recommender.config.Config holds them).
    `factors` 0 means default_factors() of the matrix fitted."""

    @property
    def factors(self) -> int: ...
    @property
    def iterations(self) -> int: ...
    @property
    def regularization(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def learning_rate(self) -> float: ...


def default_factors(n_users: int, n_items: int) -> int:
    """Latent factors for a shop's size: about sqrt(catalog), 8..64. Too many factors for a
    small catalog overfit (on the demo store, 64 factors put a third of "similar" items in
    another category; 10 put none)."""
    return int(np.clip(np.sqrt(min(n_items, max(n_users, 1))), 8, 64))


class PersonalTaste(ABC):
    """A latent-factor model of what each customer likes.

    user_factors float32 (users, f), item_factors float32 (items, f): a customer vector (f,)
    scores item i as item_factors[i] @ vector. The last `bias_columns` columns are not taste
    (BPR's item bias). Filled by `fit`, or from stored arrays by `load`.
    """

    bias_columns: ClassVar[int] = 0

    def __init__(self, settings: TasteSettings) -> None:
        self.settings = settings
        self.user_factors = np.zeros((0, 0), np.float32)
        self.item_factors = np.zeros((0, 0), np.float32)
        self._unit_items: np.ndarray | None = None

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Fit on purchase counts, CSR float32 (users, items). Without any user (a guest-only
        shop) every factor is 0."""
        n_users, n_items = user_items.shape
        factors = self.settings.factors or default_factors(n_users, n_items)
        factors = max(2, min(factors, n_items - 1, max(n_users - 1, 1)))
        if n_users == 0:
            width = factors + self.bias_columns
            return self._set(np.zeros((0, width), np.float32),
                             np.zeros((n_items, width), np.float32))
        return self._set(*self._fit(user_items, factors))

    @abstractmethod
    def _fit(self, user_items: sp.csr_matrix, factors: int) -> tuple[np.ndarray, np.ndarray]:
        """(user_factors, item_factors) fitted with `factors` taste columns."""

    @abstractmethod
    def fold_in(self, counts: Counts) -> np.ndarray:
        """float32 (f,): the vector of a customer with these purchase counts, a Row or a CSR
        (1, items), holding at least one purchase, without refitting the items."""

    def fold_in_many(self, counts: Sequence[Counts]) -> np.ndarray:
        """float32 (n, f): `fold_in` of each of `counts`, the same vectors."""
        if not counts:
            return np.zeros((0, self.item_factors.shape[1]), np.float32)
        return np.stack([self.fold_in(one) for one in counts])

    def load(self, arrays: Mapping[str, np.ndarray]) -> Self:
        """This model as `to_arrays` stored it."""
        return self._set(arrays["user_factors"], arrays["item_factors"])

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def without_users(self, keep: np.ndarray) -> Self:
        """The same model holding only the users where `keep` (bool (users,)) is True."""
        return type(self)(self.settings)._set(self.user_factors[keep], self.item_factors)

    def score(self, users: np.ndarray) -> np.ndarray:
        """float64 item scores of customer vectors: (items,) for one vector (f,), computed in
        float32 as served; (n, items) for (n, f), computed in float64."""
        if users.ndim == 1:
            return np.asarray(self.item_factors @ users, np.float64)
        return np.asarray(users, np.float64) @ np.asarray(self.item_factors, np.float64).T

    def unit_item_vectors(self) -> np.ndarray:
        """float32 (items, taste columns): item factors without bias, scaled to length 1 (0
        stays 0): their dot products are cosine similarities."""
        if self._unit_items is None:
            vectors = self.item_factors[:, :self.item_factors.shape[1] - self.bias_columns]
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._unit_items = np.divide(vectors, norms, out=np.zeros_like(vectors),
                                         where=norms > 0)
        return self._unit_items

    def _set(self, user_factors: np.ndarray, item_factors: np.ndarray) -> Self:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self._unit_items = None
        return self


class AlsTaste(PersonalTaste):
    """implicit's ALS on confidence 1 + log(1 + count); a new customer's vector is implicit's
    exact least-squares solve for the user (recalculate_user)."""

    def _fit(self, user_items: sp.csr_matrix, factors: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        als = fit_als(user_items, factors=factors, iterations=s.iterations,
                      regularization=s.regularization, alpha=s.alpha)
        return np.asarray(als.user_factors), np.asarray(als.item_factors)

    _als: Any = None  # implicit's model on these factors, built at the first fold-in

    def fold_in(self, counts: Counts) -> np.ndarray:
        """implicit's recalculate_user on the confidence row: its own solve (`_least_squares`,
        Cholesky on YtY plus the row's items) called with the row's arrays. Its model is built
        with alpha 1 and the row carries alpha already: recalculate_user would check the row,
        copy it and multiply it by alpha (the same float32 product) through scipy, ~70 us of
        a 100 us call. The same bits (tested)."""
        if _least_squares is None:
            weights = self._weights(counts)
            row = sp.csr_matrix((weights, counts.indices, np.array([0, len(weights)], np.int32)),
                                shape=(1, self.item_factors.shape[0]))
            return np.ravel(self._solver().recalculate_user(0, row))
        vector: np.ndarray = self.fold_in_many([counts])[0]
        return vector

    def fold_in_many(self, counts: Sequence[Counts]) -> np.ndarray:
        """One solve for all of them: implicit's `_least_squares` takes many users at once and
        solves each on its own (the same bits as one at a time, tested)."""
        if _least_squares is None or not counts:
            return super().fold_in_many(counts)
        indices = [np.asarray(one.indices, np.int32) for one in counts]
        weights = [np.asarray(self._weights(one), np.float32) for one in counts]
        indptr = np.array([0, *itertools.accumulate(len(part) for part in indices)], np.int32)
        vectors: np.ndarray = np.zeros((len(counts), self.item_factors.shape[1]), np.float32)
        _least_squares(self._solver().YtY, indptr, _joined(indices), _joined(weights), vectors,
                       self.item_factors, self.settings.regularization, num_threads=1)
        return vectors

    def _solver(self) -> Any:
        """implicit's model on these factors (built at the first fold-in)."""
        if self._als is None:
            self._als = als_from_factors(self.user_factors, self.item_factors,
                                         self.settings.regularization, alpha=1.0)
        return self._als

    def _weights(self, counts: Counts) -> np.ndarray:
        """The confidence of each entry of `counts`, times alpha."""
        weights = confidence_values(counts.data)
        return weights * self.settings.alpha if self.settings.alpha != 1.0 else weights

    def _set(self, user_factors: np.ndarray, item_factors: np.ndarray) -> Self:
        self._als = None
        return super()._set(user_factors, item_factors)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class BprTaste(PersonalTaste):
    """implicit's BPR (which items, not how often); its arrays carry the item bias as the last
    column (users hold 1 there). BPR has no closed form for a new customer: their vector is
    the ridge least-squares fit of a score of 1 minus the item bias on the bought items,
    regularization times the number bought, bias weight 1."""

    bias_columns = 1

    def _fit(self, user_items: sp.csr_matrix, factors: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        bpr = fit_bpr(user_items, factors=factors, iterations=s.iterations,
                      learning_rate=s.learning_rate, regularization=s.regularization)
        return np.asarray(bpr.user_factors), np.asarray(bpr.item_factors)

    def fold_in(self, counts: Counts) -> np.ndarray:
        bought = counts.indices
        vectors = self.item_factors[bought, :-1].astype(np.float64)
        target = 1.0 - self.item_factors[bought, -1].astype(np.float64)
        gram = vectors.T @ vectors + self.settings.regularization * len(bought) * np.eye(
            vectors.shape[1])
        return np.append(np.linalg.solve(gram, vectors.T @ target), 1.0).astype(np.float32)


TASTES: dict[str, type[PersonalTaste]] = {"als": AlsTaste, "bpr": BprTaste}
