"""The models of the first release: implicit ALS, co-purchase neighbours, trending."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recommender.matrix import Interactions

# implicit runs its own threads and asks BLAS not to (it warns otherwise): set once, process-wide.
threadpool_limits(1, "blas")


ALS_REGULARIZATION = 0.05
ALS_ALPHA = 2.0


def confidence(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Purchase counts -> ALS confidence 1 + log(1 + count), CSR float32, same shape."""
    weighted = counts.copy()
    weighted.data = np.log1p(weighted.data).astype(np.float32) + 1.0
    return weighted


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
    )
    model.fit(confidence(user_items), show_progress=False)
    return model


def als_from_factors(user_factors: np.ndarray, item_factors: np.ndarray) -> AlternatingLeastSquares:
    """Rebuild a fitted implicit ALS model from its stored factor arrays (with the training
    hyperparameters, which recalculating a user's factors from fresh purchases uses)."""
    model = AlternatingLeastSquares(
        factors=item_factors.shape[1], regularization=ALS_REGULARIZATION, alpha=ALS_ALPHA
    )
    model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    return model


def copurchase_neighbours(
    basket_items: sp.csr_matrix, top_k: int = 50, shrink: float = 3.0
) -> sp.csr_matrix:
    """Item-item "bought together" scores, CSR float32 (items, items), top_k per row.

    score(i, j) = baskets with both / (sqrt(baskets with i * baskets with j) + shrink):
    cosine similarity of the basket columns, shrunk so a pair seen once does not outrank
    a pair seen a hundred times.
    """
    binary = basket_items.tocsc().astype(np.float32)
    counts = np.asarray(binary.sum(axis=0)).ravel()
    together = (binary.T @ binary).tocsr()
    together.setdiag(0)
    together.eliminate_zeros()
    together = together.tocoo()
    scores = together.data / (np.sqrt(counts[together.row] * counts[together.col]) + shrink)
    scored = sp.csr_matrix((scores.astype(np.float32), (together.row, together.col)),
                           shape=together.shape)
    return keep_top_k(scored, top_k)


def keep_top_k(matrix: sp.csr_matrix, top_k: int) -> sp.csr_matrix:
    """Each row's `top_k` largest entries, rows sorted best first."""
    indptr, indices, data = [0], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        cols, vals = matrix.indices[start:end], matrix.data[start:end]
        order = np.lexsort((cols, -vals))[:top_k]
        indices.append(cols[order])
        data.append(vals[order])
        indptr.append(indptr[-1] + len(order))
    return sp.csr_matrix(
        (np.concatenate(data or [np.zeros(0, np.float32)]).astype(np.float32),
         np.concatenate(indices or [np.zeros(0, np.int32)]).astype(np.int32),
         np.array(indptr, dtype=np.int64)),
        shape=matrix.shape,
    )


def trending_scores(
    interactions: Interactions, half_life_days: float = 14.0, now: float | None = None
) -> np.ndarray:
    """float64 (items,): purchases weighted by exp-decay of their age at `now`.

    `now` defaults to the newest purchase, so a shop with a quiet month still has a ranking.
    """
    reference = float(interactions.line_times.max()) if now is None else now
    age_days = np.maximum(reference - interactions.line_times, 0.0) / 86400.0
    weights = np.exp2(-age_days / half_life_days)
    return np.bincount(interactions.line_items, weights=weights, minlength=interactions.n_items)
