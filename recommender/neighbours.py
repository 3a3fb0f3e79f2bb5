"""Item neighbours: the ItemNeighbours interface, co-purchase (shrunk cosine over baskets) and
implicit's BM25 item-kNN behind it, and NEIGHBOURS, the registry of the names
Config.neighbours may hold."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender
from implicit.utils import ParameterWarning

from recommender.matrix import Interactions
from recommender.models import threads_for

TOP_K = 50  # neighbours kept per item


class ItemNeighbours(ABC):
    """Item-item scores `matrix`: CSR float32 (items, items), no self-links, each row's TOP_K
    best entries, best first. Filled by `fit`, or from a stored matrix by `load`."""

    def __init__(self) -> None:
        self.matrix = sp.csr_matrix((0, 0), dtype=np.float32)

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
        return np.asarray(self.matrix[items][:, others].toarray())

    def summed(self, items: Sequence[int]) -> np.ndarray:
        """float64 (items,): the neighbour scores of `items` added up (a cart's)."""
        return np.asarray(self.matrix[items].sum(axis=0), np.float64).ravel()

    def scores(self, weights: np.ndarray) -> np.ndarray:
        """float64 (items,): the neighbour scores of all items, weighted by `weights`
        float64 (items,), added up."""
        return np.asarray(self.matrix.T @ weights, np.float64).ravel()

    def scores_batch(self, weights: sp.csr_matrix) -> np.ndarray:
        """float64 (n, items): `scores` of each row of `weights`, CSR float64 (n, items)."""
        return np.asarray((weights @ self.matrix).todense(), np.float64)


class CoPurchase(ItemNeighbours):
    """"Bought together": score(i, j) = baskets with both / (sqrt(baskets with i * baskets
    with j) + SHRINK): cosine similarity of the basket columns, shrunk so a pair seen once does
    not outrank a pair seen a hundred times. Guest baskets count too."""

    SHRINK = 3.0

    def _similarity(self, data: Interactions) -> sp.csr_matrix:
        binary = data.basket_items.tocsc().astype(np.float32)
        counts = np.asarray(binary.sum(axis=0)).ravel()
        together = (binary.T @ binary).tocsr()
        together.setdiag(0)
        together.eliminate_zeros()
        together = together.tocoo()
        scores = together.data / (np.sqrt(counts[together.row] * counts[together.col])
                                  + self.SHRINK)
        return sp.csr_matrix((scores.astype(np.float32), (together.row, together.col)),
                             shape=together.shape)


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
        similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        similarity.setdiag(0)
        similarity.eliminate_zeros()
        return similarity


NEIGHBOURS: dict[str, type[ItemNeighbours]] = {"copurchase": CoPurchase, "bm25": Bm25ItemKnn}


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
