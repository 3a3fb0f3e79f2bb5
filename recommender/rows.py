"""Single rows of CSR matrices, read straight from their arrays.

Serving reads one customer's row (or a few neighbour rows) per call. scipy's indexing
(`matrix[i]`, `matrix[rows][:, columns]`) validates and copies through several layers and
costs 50-200 us a call; these give the same values from `indptr`, `indices` and `data`
directly, in a few microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def csr_row(matrix: sp.csr_matrix, row: int) -> sp.csr_matrix:
    """Row `row` of `matrix` as a (1, columns) CSR matrix: what `matrix[row]` gives."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    indptr = np.array([0, end - start], dtype=matrix.indptr.dtype)
    return sp.csr_matrix((matrix.data[start:end], matrix.indices[start:end], indptr),
                         shape=(1, matrix.shape[1]), copy=False)


def dense_row(matrix: sp.csr_matrix, row: int) -> np.ndarray:
    """float64 (columns,): row `row` of `matrix`, zeros where nothing is stored (what
    `np.asarray(matrix[row].todense(), np.float64).ravel()` gives; repeated entries add up)."""
    out = np.zeros(matrix.shape[1], np.float64)
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    np.add.at(out, matrix.indices[start:end], matrix.data[start:end])
    return out


def dense_block(matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray,
                columns: Sequence[int] | np.ndarray) -> np.ndarray:
    """(len(rows), len(columns)) of `matrix`'s dtype: `matrix[rows][:, columns].toarray()`
    for a few rows and columns, each column index at most once."""
    out = np.zeros((len(rows), len(columns)), matrix.dtype)
    if not len(rows) or not len(columns):
        return out
    position = np.full(matrix.shape[1], -1, np.int64)
    position[np.asarray(columns)] = np.arange(len(columns))
    for r, row in enumerate(np.asarray(rows).tolist()):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        at = position[matrix.indices[start:end]]
        found = at >= 0
        np.add.at(out[r], at[found], matrix.data[start:end][found])
    return out


def summed_rows(matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """float64 (columns,): the rows added up, a row given twice counting twice: what
    `np.asarray(matrix[rows].sum(axis=0), np.float64).ravel()` gives (summed in the matrix's
    dtype, row by row, as scipy does)."""
    out = np.zeros(matrix.shape[1], matrix.dtype)
    for row in np.asarray(rows, np.int64).tolist():
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        np.add.at(out, matrix.indices[start:end], matrix.data[start:end])
    return out.astype(np.float64)


def same_row(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    """Whether two (1, columns) CSR rows with sorted indices hold the same entries."""
    return bool(a.has_sorted_indices and b.has_sorted_indices
                and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))
