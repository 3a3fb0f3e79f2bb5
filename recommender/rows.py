"""Single rows of CSR matrices, read straight from their arrays.

Serving reads one customer's row (or a few neighbour rows) per call. scipy's indexing
(`matrix[i]`, `matrix[rows][:, columns]`) validates and copies through several layers and
costs 50-200 us a call, and even building a one-row csr_matrix costs about 40 us; these give
the same values from `indptr`, `indices` and `data` directly, in a few microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


class Row(NamedTuple):
    """One row of `width` columns as its stored entries: `indices` (column of each entry) and
    `data` (its value), in the order stored."""

    indices: np.ndarray
    data: np.ndarray
    width: int

    def dense(self) -> np.ndarray:
        """float64 (width,): the row, zeros where nothing is stored, repeated entries added
        up (what scipy's `todense` gives)."""
        return np.bincount(self.indices, weights=self.data, minlength=self.width)

    def csr(self) -> sp.csr_matrix:
        """The row as a (1, width) CSR matrix (for code that takes scipy's)."""
        indptr = np.array([0, len(self.indices)], dtype=np.int32)
        return sp.csr_matrix((self.data, self.indices, indptr), shape=(1, self.width),
                             copy=False)

    def same(self, other: Row) -> bool:
        """Whether both hold the same entries; rows whose indices are not strictly increasing
        count as different (unsure: a caller recomputes rather than trusts)."""
        return bool(self.width == other.width and _increasing(self.indices)
                    and np.array_equal(self.indices, other.indices)
                    and np.array_equal(self.data, other.data))


def _increasing(indices: np.ndarray) -> bool:
    return bool(len(indices) < 2 or (indices[1:] > indices[:-1]).all())


def same_structure(matrix: sp.csr_matrix, other: sp.csr_matrix) -> bool:
    """Whether both store the same entries (indptr, indices) and `other`'s are canonical
    (sorted, each column once): then their rows' `data` line up entry by entry."""
    return bool(matrix.shape == other.shape and other.has_canonical_format
                and np.array_equal(matrix.indptr, other.indptr)
                and np.array_equal(matrix.indices, other.indices))


def counts_row(counts: Mapping[str, int], index: Mapping[str, int], width: int) -> Row | None:
    """A row of purchase counts (float32, columns increasing) of the products `index` knows
    (product id -> column); None if it knows none of them."""
    known = sorted((index[p], n) for p, n in counts.items() if n > 0 and p in index)
    if not known:
        return None
    return Row(np.array([j for j, _ in known], np.int32),
               np.array([n for _, n in known], np.float32), width)


def row_of(matrix: sp.csr_matrix, row: int) -> Row:
    """Row `row` of `matrix` (views of its arrays, nothing copied)."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return Row(matrix.indices[start:end], matrix.data[start:end], matrix.shape[1])


def dense_row(matrix: sp.csr_matrix, row: int) -> np.ndarray:
    """float64 (columns,): row `row` of `matrix`, zeros where nothing is stored (what
    `np.asarray(matrix[row].todense(), np.float64).ravel()` gives; repeated entries add up)."""
    return row_of(matrix, row).dense()


def dense_block(matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray,
                columns: Sequence[int] | np.ndarray) -> np.ndarray:
    """(len(rows), len(columns)) of `matrix`'s dtype: `matrix[rows][:, columns].toarray()`
    for a few rows and columns, each column index at most once (entries a row repeats are
    added up in float64, then rounded once)."""
    shape = (len(rows), len(columns))
    if not shape[0] or not shape[1]:
        return np.zeros(shape, matrix.dtype)
    position = np.full(matrix.shape[1], -1, np.int64)
    position[np.asarray(columns)] = np.arange(shape[1])
    entries, row_numbers = _entries(matrix, rows)
    at = position[matrix.indices[entries]]
    found = at >= 0
    cells = np.bincount(row_numbers[found] * shape[1] + at[found],
                        weights=matrix.data[entries[found]], minlength=shape[0] * shape[1])
    return cells.reshape(shape).astype(matrix.dtype)


def _entries(matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """The positions in `matrix.indices` / `.data` of every entry of `rows`, and the number
    (0, 1, ...) of the row of `rows` each belongs to."""
    rows = np.asarray(rows, np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1] - starts
    ends = np.cumsum(lengths)
    row_numbers = np.repeat(np.arange(len(rows)), lengths)
    return np.arange(ends[-1]) + (starts - ends + lengths)[row_numbers], row_numbers


def summed_rows(matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """float64 (columns,): the rows added up, a row given twice counting twice: what
    `np.asarray(matrix[rows].sum(axis=0), np.float64).ravel()` gives (summed in the matrix's
    dtype, row by row, as scipy does)."""
    out = np.zeros(matrix.shape[1], matrix.dtype)
    for row in np.asarray(rows, np.int64).tolist():
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        np.add.at(out, matrix.indices[start:end], matrix.data[start:end])
    return out.astype(np.float64)
