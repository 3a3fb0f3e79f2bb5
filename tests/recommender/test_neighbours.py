"""The vectorised top-k of recommender.neighbours against the plain per-row definition, on
data full of ties (the strategies themselves: tests/recommender/test_strategies.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import neighbours
from recommender.neighbours import keep_top_k, nearest_by_vectors


def top_k_row_by_row(matrix: sp.csr_matrix, top_k: int) -> list[tuple[list[int], list[float]]]:
    """Per row: its top_k stored entries by value, ties by column, as (columns, values)."""
    rows = []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        cols, values = matrix.indices[start:end], matrix.data[start:end]
        order = np.lexsort((cols, -values))[:top_k]
        rows.append((cols[order].tolist(), values[order].tolist()))
    return rows


def rows_of(matrix: sp.csr_matrix) -> list[tuple[list[int], list[float]]]:
    return [(matrix.indices[matrix.indptr[r]:matrix.indptr[r + 1]].tolist(),
             matrix.data[matrix.indptr[r]:matrix.indptr[r + 1]].tolist())
            for r in range(matrix.shape[0])]


def tied_matrix(seed: int, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """CSR float32 of a random density whose values take a few levels (many ties, zeros and
    negatives stored too), its columns stored out of order in each row."""
    rng = np.random.default_rng(seed)
    matrix = sp.random(n_rows, n_cols, density=rng.uniform(0.05, 1.0), format="csr",
                       dtype=np.float32, rng=rng)
    matrix.data = np.round(matrix.data * rng.choice([2, 5, 100])).astype(np.float32) - 1
    for row in range(n_rows):  # as sparse products leave them: unsorted within a row
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        order = rng.permutation(end - start) + start
        matrix.indices[start:end], matrix.data[start:end] = (matrix.indices[order],
                                                             matrix.data[order])
    matrix.has_sorted_indices = False
    return matrix


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("top_k", [1, 3, 7])
def test_keep_top_k_is_each_rows_best_ties_by_column(seed: int, top_k: int) -> None:
    matrix = tied_matrix(seed, n_rows=30, n_cols=[5, 40, 300][seed % 3])
    kept = keep_top_k(matrix, top_k)
    assert kept.dtype == np.float32 and kept.shape == matrix.shape
    assert rows_of(kept) == top_k_row_by_row(matrix, top_k)


def test_keep_top_k_of_an_empty_matrix_is_empty() -> None:
    assert keep_top_k(sp.csr_matrix((3, 3), dtype=np.float32), 5).nnz == 0
    assert keep_top_k(sp.csr_matrix((0, 0), dtype=np.float32), 5).shape == (0, 0)


def nearest_one_by_one(vectors: np.ndarray, top_k: int) -> list[tuple[list[int], list[float]]]:
    """Per item: the top_k positive dot products with the others, ties by index."""
    rows = []
    for item in range(len(vectors)):
        scores = vectors @ vectors[item]
        scores[item] = -np.inf
        order = [j for j in np.lexsort((np.arange(len(scores)), -scores))[:top_k]
                 if scores[j] > 0]
        rows.append((order, scores[order].tolist()))
    return rows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block_cells", [1, 500, 1 << 20])
def test_nearest_by_vectors_is_each_items_best_positive_ties_by_index(
        seed: int, block_cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    n = [8, 60, 450][seed % 3]
    vectors = rng.integers(-2, 3, size=(n, 3)).astype(np.float32)  # exact sums, many ties
    monkeypatch.setattr(neighbours, "BLOCK_CELLS", block_cells)
    for top_k in (1, 5):
        assert rows_of(nearest_by_vectors(vectors, top_k)) == nearest_one_by_one(vectors, top_k)
