"""Item neighbours: the ItemNeighbours interface, co-purchase (shrunk cosine over baskets) and
implicit's BM25 item-kNN behind it, and NEIGHBOURS, the registry of the names
Config.neighbours may hold; each row's top k of a sparse matrix (keep_top_k) and of the dot
products of vectors (nearest_by_vectors), vectorised."""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender
from implicit.utils import ParameterWarning

from recommender.matrix import Interactions
from recommender.models import threads_for
from recommender.rows import dense_block, summed_rows

TOP_K = 50  # neighbours kept per item
# Up to this many items `links` and `scores` use dense copies of the matrix (768 KB at most):
# one indexing call or product instead of a few dozen calls (or scipy's dispatch, ~40 us) on
# tiny arrays, for the catalogs most shops have.
DENSE_ITEMS = 256


class ItemNeighbours(ABC):
    """Item-item scores `matrix`: CSR float32 (items, items), no self-links, each row's TOP_K
    best entries, best first. Filled by `fit`, or from a stored matrix by `load`."""

    def __init__(self) -> None:
        self.matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self._transposed: tuple[sp.csr_matrix, sp.csc_matrix] = (self.matrix, self.matrix.T)
        self._dense: tuple[sp.csr_matrix, tuple[np.ndarray, np.ndarray] | None] = (
            self.matrix, None)

    def load(self, matrix: sp.csr_matrix) -> Self:
        """This model holding a `matrix` it fitted before."""
        self.matrix = matrix
        return self

    def fit(self, data: Interactions) -> Self:
        self.matrix = keep_top_k(self._similarity(data), TOP_K)
        return self

    @abstractmethod
    def _similarity(self, data: Interactions) -> sp.csr_matrix:
        """CSR float32 (items, items) of every pair's score, no self-links."""

    def of(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """The neighbours of `item`, best first: (item indices int32, scores float32)."""
        start, end = self.matrix.indptr[item], self.matrix.indptr[item + 1]
        return self.matrix.indices[start:end], self.matrix.data[start:end]

    def links(self, items: Sequence[int] | np.ndarray,
              others: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 (items, others): the score of each of `others` as a neighbour of each of
        `items` (0: not a neighbour)."""
        if self.matrix.shape[1] > DENSE_ITEMS:
            return dense_block(self.matrix, items, others)
        dense = self._dense_copies()[0]
        return dense[np.asarray(items, np.int64)[:, None], np.asarray(others, np.int64)]

    def _dense_copies(self) -> tuple[np.ndarray, np.ndarray]:
        """The matrix dense, float32 and float64 (made once per matrix; small catalogs)."""
        copies = self._dense[1]
        if self._dense[0] is not self.matrix or copies is None:
            dense = self.matrix.toarray()
            copies = (dense, dense.astype(np.float64))
            self._dense = (self.matrix, copies)
        return copies

    def because(self, bought: np.ndarray, items: Sequence[int],
                top: int = 3) -> list[list[int]]:
        """Per item of `items`: up to `top` of `bought` (item indices) it is a neighbour of,
        closest first, ties in `bought`'s order: the purchases that led to recommending it
        (empty if none did)."""
        if not len(bought) or not len(items):
            return [[] for _ in items]
        links = self.links(bought, items)  # (bought, items)
        closest = np.argsort(-links, axis=0, kind="stable")[:top].T.tolist()  # per item
        positive = (links > 0).T.tolist()
        names = bought.tolist()
        return [[names[k] for k in order if linked[k]]
                for order, linked in zip(closest, positive, strict=True)]

    def summed(self, items: Sequence[int]) -> np.ndarray:
        """float64 (items,): the neighbour scores of `items` added up (a cart's)."""
        return summed_rows(self.matrix, items)

    def scores(self, weights: np.ndarray) -> np.ndarray:
        """float64 (items,): the neighbour scores of all items, weighted by `weights`
        float64 (items,), added up."""
        if self.matrix.shape[1] <= DENSE_ITEMS:  # a dense product: no scipy dispatch
            scores: np.ndarray = np.asarray(weights, np.float64) @ self._dense_copies()[1]
            return scores
        if self._transposed[0] is not self.matrix:  # made once per matrix, not per call
            self._transposed = (self.matrix, self.matrix.T)
        return np.asarray(self._transposed[1] @ weights, np.float64).ravel()

    def scores_batch(self, weights: sp.csr_matrix) -> np.ndarray:
        """float64 (n, items): `scores` of each row of `weights`, CSR float64 (n, items)."""
        return np.asarray((weights @ self.matrix).todense(), np.float64)


class CoPurchase(ItemNeighbours):
    """"Bought together": score(i, j) = baskets with both / (sqrt(baskets with i * baskets
    with j) + SHRINK): cosine similarity of the basket columns, shrunk so a pair seen once does
    not outrank a pair seen a hundred times. Guest baskets count too."""

    SHRINK = 3.0

    def _similarity(self, data: Interactions) -> sp.csr_matrix:
        baskets = data.basket_items
        counts = np.bincount(baskets.indices, minlength=data.n_items).astype(np.float32)
        together = sp.csr_matrix(baskets.T.tocsr() @ baskets)  # stores no zeros
        lengths = np.diff(together.indptr)
        rows = np.repeat(np.arange(data.n_items, dtype=np.int32), lengths)
        off = rows != together.indices
        kept = lengths - np.bincount(rows[~off], minlength=data.n_items)  # per row
        cols = together.indices[off]
        scores = np.repeat(counts, kept)  # then in place: together / (sqrt(c * c) + SHRINK)
        scores *= counts[cols]
        np.sqrt(scores, out=scores)
        scores += np.float32(self.SHRINK)
        np.divide(together.data[off], scores, out=scores)
        indptr = np.concatenate([[0], np.cumsum(kept)])
        return sp.csr_matrix((scores, cols, indptr), shape=together.shape)


class Bm25ItemKnn(ItemNeighbours):
    """implicit's BM25 item-kNN (K=100) over the customer x product matrix. With fewer than
    two customers (guest baskets only) there is nothing to weigh: co-purchase instead."""

    K = 100

    def _similarity(self, data: Interactions) -> sp.csr_matrix:
        if data.n_users <= 1:
            return CoPurchase()._similarity(data)
        model = BM25Recommender(K=self.K, num_threads=threads_for(data.user_items))
        with warnings.catch_warnings():  # implicit hands its own kNN a COO matrix, then warns
            warnings.filterwarnings("ignore", "Method expects CSR input", ParameterWarning)
            model.fit(data.user_items, show_progress=False)
        return without_diagonal(sp.csr_matrix(model.similarity, dtype=np.float32))


NEIGHBOURS: dict[str, type[ItemNeighbours]] = {"copurchase": CoPurchase, "bm25": Bm25ItemKnn}


def without_diagonal(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """CSR (n, n) `matrix` without its diagonal and its stored zeros."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
    keep = (rows != matrix.indices) & (matrix.data != 0)
    return _csr_of(matrix.shape, rows[keep], matrix.indices[keep], matrix.data[keep])


# Every step below is vectorised over all rows (no loop per row). A row's top_k-th largest
# value is found among its candidates: in a row of 8 * top_k values or more, only those at
# least the top_k-th largest maximum of 2 * top_k groups of its values (top_k values reach that
# floor, so the top_k-th largest does too). nearest_by_vectors scores blocks of BLOCK_CELLS.
GROUPS_PER_K = 2
BLOCK_CELLS = 1 << 20  # 4 MB of float32 scores
BLOCK_THREADS = min(4, os.cpu_count() or 1)
POSITIVE = np.nextafter(np.float32(0), np.float32(1))  # the smallest float32 above 0


def keep_top_k(matrix: sp.csr_matrix, top_k: int) -> sp.csr_matrix:
    """Each row's `top_k` largest stored entries of CSR `matrix` (no duplicate entries), rows
    sorted best first, ties by column."""
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), lengths)
    candidates = np.flatnonzero(matrix.data >= np.repeat(_floors(matrix.data, matrix.indptr,
                                                                 top_k), lengths))
    rows, cols, values = rows[candidates], matrix.indices[candidates], matrix.data[candidates]
    kth = _kth_largest(rows, values, matrix.shape[0], top_k)
    kept = _among_top(values, cols, rows, kth, top_k)
    return _sorted_rows(matrix.shape, rows[kept], cols[kept], values[kept])


def nearest_by_vectors(vectors: np.ndarray, top_k: int) -> sp.csr_matrix:
    """CSR float32 (items, items): per item, the `top_k` items whose `vectors` (float32
    (items, f)) have the largest positive dot product with its own, best first, ties by index,
    no self-links: the top of each row of vectors @ vectors.T, a block of rows at a time (the
    blocks in threads: BLAS and numpy free the GIL)."""
    n = len(vectors)
    step = max(1, BLOCK_CELLS // max(n, 1))
    starts = range(0, n, step)
    found = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))]
    with ThreadPoolExecutor(max_workers=min(len(starts), BLOCK_THREADS) or 1) as pool:
        found += pool.map(lambda start: _nearest_in_block(vectors, start, step, top_k), starts)
    rows, cols, values = (np.concatenate(part) for part in zip(*found, strict=True))
    return _sorted_rows((n, n), rows, cols, values)


def _nearest_in_block(vectors: np.ndarray, start: int, step: int,
                      top_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, values) of nearest_by_vectors in rows start .. start + step."""
    n = len(vectors)
    scores = vectors[start:start + step] @ vectors.T
    scores[np.arange(len(scores)), np.arange(start, start + len(scores))] = -np.inf
    floors = np.full(len(scores), -np.inf, scores.dtype)
    if n >= 8 * top_k:
        bounds = np.arange(GROUPS_PER_K * top_k) * n // (GROUPS_PER_K * top_k)
        floors = _floor(np.maximum.reduceat(scores, bounds, axis=1), top_k)
    flat = np.flatnonzero(scores >= np.maximum(floors, POSITIVE)[:, None])
    values = scores.ravel()[flat]
    local, cols = np.divmod(flat, n)
    kth = _kth_largest(local, values, len(scores), top_k)
    chosen = _among_top(values, cols, local, kth, top_k)
    return local[chosen] + start, cols[chosen], values[chosen]


def _floors(values: np.ndarray, indptr: np.ndarray, top_k: int) -> np.ndarray:
    """(rows,): a value each row's `top_k`-th largest reaches (-inf if the row is short), of
    `values` laid out row after row, row r in values[indptr[r]:indptr[r + 1]]."""
    lengths = np.diff(indptr)
    floors = np.full(len(lengths), -np.inf, values.dtype)
    wide = np.flatnonzero(lengths >= 8 * top_k)
    if not len(wide):
        return floors
    groups = GROUPS_PER_K * top_k
    bounds = indptr[wide, None] + np.arange(groups + 1) * lengths[wide, None] // groups
    ends = np.append(values, -np.inf)  # the last bound (a row's end) may be len(values)
    maxima = np.maximum.reduceat(ends, bounds.ravel()).reshape(len(wide), groups + 1)
    floors[wide] = _floor(maxima[:, :groups], top_k)
    return floors


def _floor(maxima: np.ndarray, top_k: int) -> np.ndarray:
    """(rows,): the `top_k`-th largest of each row's group `maxima` (rows, groups)."""
    return np.asarray(np.sort(maxima, axis=1)[:, -top_k])


def _kth_largest(rows: np.ndarray, values: np.ndarray, n_rows: int,
                 top_k: int) -> np.ndarray:
    """(n_rows,): each row's `top_k`-th largest of `values` (-inf if it holds fewer), the
    values given with their `rows`, ascending."""
    cells = _cells(rows, n_rows)
    if cells[1].shape[1] < top_k:
        return np.full(n_rows, -np.inf, values.dtype)
    return np.asarray(np.sort(_padded(cells, values, -np.inf), axis=1)[:, -top_k])


def _among_top(values: np.ndarray, cols: np.ndarray, local: np.ndarray, kth: np.ndarray,
               top_k: int) -> np.ndarray:
    """bool (entries,): which entries (their values, columns and rows `local`) are among their
    row's `top_k` largest, given each row's `kth` largest value: those above it, and of those
    equal to it as many as there is room for, by column."""
    at = kth[local]
    chosen: np.ndarray = values > at
    room = top_k - np.bincount(local[chosen], minlength=len(kth))
    tied = np.flatnonzero(values == at)
    tied = tied[np.lexsort((cols[tied], local[tied]))]
    rank = np.arange(len(tied)) - np.searchsorted(local[tied], local[tied])
    chosen[tied] = rank < room[local[tied]]
    return chosen


def _cells(rows: np.ndarray, n_rows: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Where entries of `rows` (ascending) go in an array of n_rows rows holding each row's
    entries side by side: ((row, column) of each entry, bool (n_rows, most entries in a row)
    of the cells taken)."""
    counts = np.bincount(rows, minlength=n_rows)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    taken = np.arange(int(counts.max(initial=0))) < counts[:, None]
    return (rows, position), taken


def _padded(cells: tuple[tuple[np.ndarray, np.ndarray], np.ndarray], values: np.ndarray,
            fill: float) -> np.ndarray:
    """The `values` of entries laid out in `cells` (see _cells), `fill` in the cells not taken."""
    (rows, position), taken = cells
    padded = np.full(taken.shape, fill, values.dtype)
    padded[rows, position] = values
    return padded


def _sorted_rows(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                 values: np.ndarray) -> sp.csr_matrix:
    """CSR float32 of the entries (`rows` ascending, `cols`, `values`), each row best first,
    ties by column (few entries a row: each row is sorted on its own)."""
    cells = _cells(rows, shape[0])
    order = np.lexsort((_padded(cells, cols, shape[1]), _padded(cells, -values, np.inf)),
                       axis=-1)  # the cells not taken last
    taken = cells[1]
    starts = np.cumsum(taken.sum(axis=1)) - taken.sum(axis=1)
    entries = (starts[:, None] + order)[taken]
    return _csr_of(shape, rows[entries], cols[entries], values[entries])


def _csr_of(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
            values: np.ndarray) -> sp.csr_matrix:
    """CSR float32 of entries already in row order, kept in their order within a row."""
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((values.astype(np.float32, copy=False),
                          cols.astype(np.int32, copy=False), indptr), shape=shape)
