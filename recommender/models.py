"""The building blocks of a shop's model: implicit's ALS and BPR fitted on purchase counts (the
taste strategies of recommender.taste wrap them), implicit's threads, trending."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recommender.matrix import Interactions

# implicit runs its own threads and asks BLAS not to (it warns otherwise): set once, process-wide.
threadpool_limits(1, "blas")


# Below this many stored purchases one thread fits faster: implicit's OpenMP threads spin on
# tiny matrices, and on a busy machine (the server's other work) that costs seconds.
SINGLE_THREAD_BELOW = 200_000


def threads_for(user_items: sp.csr_matrix) -> int:
    """implicit's num_threads for a matrix: 1 when small, else 0 (every core)."""
    return 1 if user_items.nnz < SINGLE_THREAD_BELOW else 0


ALS_REGULARIZATION = 0.05
ALS_ALPHA = 2.0


def confidence(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Purchase counts -> ALS confidence 1 + log(1 + count), CSR float32, same shape."""
    weighted = counts.copy()
    weighted.data = confidence_values(weighted.data)
    return weighted


def confidence_values(counts: np.ndarray) -> np.ndarray:
    """float32 1 + log(1 + count) of each count (`confidence` of the stored values)."""
    return np.asarray(np.log1p(counts).astype(np.float32) + 1.0)


def fit_als(
    user_items: sp.csr_matrix,
    factors: int = 64,
    iterations: int = 20,
    regularization: float = ALS_REGULARIZATION,
    alpha: float = ALS_ALPHA,
    random_state: int = 42,
) -> AlternatingLeastSquares:
    """implicit's ALS on a CSR float32 (users, items) matrix of purchase counts."""
    if not sp.isspmatrix_csr(user_items) or user_items.dtype != np.float32:
        raise ValueError("user_items must be a scipy CSR matrix of dtype float32")
    model = AlternatingLeastSquares(
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        alpha=alpha,
        random_state=random_state,
        num_threads=threads_for(user_items),
    )
    model.fit(confidence(user_items), show_progress=False)
    return model


def fit_bpr(
    user_items: sp.csr_matrix,
    factors: int = 64,
    iterations: int = 100,
    learning_rate: float = 0.01,
    regularization: float = 0.01,
    random_state: int = 42,
) -> BayesianPersonalizedRanking:
    """implicit's BPR on a CSR float32 (users, items) matrix (only which items, not how often,
    matters to BPR). Its factor arrays carry an item bias as the last column."""
    if not sp.isspmatrix_csr(user_items) or user_items.dtype != np.float32:
        raise ValueError("user_items must be a scipy CSR matrix of dtype float32")
    model = BayesianPersonalizedRanking(
        factors=factors, iterations=iterations, learning_rate=learning_rate,
        regularization=regularization, random_state=random_state,
        num_threads=threads_for(user_items),
    )
    model.fit(user_items, show_progress=False)
    return model


def als_from_factors(
    user_factors: np.ndarray, item_factors: np.ndarray,
    regularization: float = ALS_REGULARIZATION, alpha: float = ALS_ALPHA,
) -> AlternatingLeastSquares:
    """Rebuild a fitted implicit ALS model from its stored factor arrays (with the training
    hyperparameters, which recalculating a user's factors from fresh purchases uses)."""
    model = AlternatingLeastSquares(  # one thread: it serves one user's solve at a time
        factors=item_factors.shape[1], regularization=regularization, alpha=alpha, num_threads=1
    )
    model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    return model


def trending_scores(
    interactions: Interactions, half_life_days: float = 14.0, now: float | None = None
) -> np.ndarray:
    """float64 (items,): purchases weighted by exp-decay of their age at `now`; a half-life
    of 0 means no decay (plain popularity).

    `now` defaults to the newest purchase, so a shop with a quiet month still has a ranking.
    The weights are added up order by order (in the order of the baskets), so that the scores
    are those of the purchases, whatever order their lines were read in.
    """
    if half_life_days <= 0:
        return np.bincount(interactions.line_items,
                           minlength=interactions.n_items).astype(np.float64)
    reference = float(interactions.line_times.max()) if now is None else now
    by_basket = np.argsort(interactions.line_baskets, kind="stable")
    age_days = np.maximum(reference - interactions.line_times[by_basket], 0.0) / 86400.0
    weights = np.exp2(-age_days / half_life_days)
    return np.bincount(interactions.line_items[by_basket], weights=weights,
                       minlength=interactions.n_items)
