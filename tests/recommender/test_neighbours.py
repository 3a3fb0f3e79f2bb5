"""Item neighbours: co-purchase's shrunk cosine on baskets of known counts, BM25's fallback,
and the vectorised top-k against the plain per-row definition, on data full of ties (what
every neighbours strategy must do on a shop of known answers:
tests/recommender/test_strategies.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import neighbours
from recommender.matrix import Purchase, build_interactions
from recommender.neighbours import (
    DENSE_ITEMS,
    TOP_K,
    Bm25ItemKnn,
    CoPurchase,
    keep_top_k,
    nearest_by_vectors,
    without_diagonal,
)


def baskets(*orders: str, guests: bool = False) -> list[Purchase]:
    """One order per string, holding its letters as products."""
    return [Purchase(f"o{n}", None if guests else f"c{n}", product, 1, 0.0)
            for n, order in enumerate(orders) for product in order]


def test_co_purchase_is_the_cosine_of_baskets_shrunk() -> None:
    # a in 4 baskets, b in 2 (both with a), c in 1 (with a): a~b = 2 / (sqrt(4 * 2) + 3)
    data = build_interactions(baskets("ab", "ab", "ac", "a"))
    found = CoPurchase().fit(data)
    assert found.matrix.dtype == np.float32
    items, scores = found.of(0)  # a
    assert items.tolist() == [1, 2]
    np.testing.assert_allclose(scores, [2 / (np.sqrt(8) + 3), 1 / (np.sqrt(4) + 3)], rtol=1e-6)
    assert found.of(1)[0].tolist() == [0] and found.of(2)[0].tolist() == [0]


def test_a_pair_seen_often_outranks_a_pair_seen_once() -> None:
    data = build_interactions(baskets(*["ab"] * 50, *["b"] * 50, "ac"))
    items, scores = CoPurchase().fit(data).of(0)
    assert items.tolist() == [1, 2] and scores[0] > scores[1]  # cosine alone would rank c first


def test_neighbours_keep_the_top_k_of_each_item() -> None:
    data = build_interactions(baskets("".join(chr(0x100 + i) for i in range(TOP_K + 10))))
    found = CoPurchase().fit(data)
    assert (np.diff(found.matrix.indptr) == TOP_K).all()


def test_bm25_of_a_shop_without_two_customers_is_co_purchase() -> None:
    data = build_interactions(baskets("ab", "ab", "ac", "bc", guests=True))
    assert data.n_users == 0
    bm25, copurchase = Bm25ItemKnn().fit(data).matrix, CoPurchase().fit(data).matrix
    assert (bm25 != copurchase).nnz == 0


def test_bm25_links_products_bought_by_the_same_customers() -> None:
    rows = [Purchase(f"{c}-{p}", c, p, 1, 0.0) for c in ("x", "y", "z") for p in ("a", "b")]
    rows += [Purchase("w-c", "w", "c", 1, 0.0)] + [Purchase(f"{c}-d", c, "d", 1, 0.0)
                                                   for c in ("u", "v")]
    found = Bm25ItemKnn().fit(build_interactions(rows))
    assert found.of(0)[0].tolist() == [1] and found.of(1)[0].tolist() == [0]
    assert found.of(2)[0].tolist() == found.of(3)[0].tolist() == []
    assert found.matrix.diagonal().tolist() == [0.0] * 4


def test_without_diagonal_drops_self_links_and_stored_zeros() -> None:
    matrix = sp.csr_matrix((np.array([5, 1, 0, 2, 7], np.float32), [0, 2, 1, 0, 2],
                            [0, 3, 3, 5]), shape=(3, 3))
    kept = without_diagonal(matrix)
    assert kept.dtype == np.float32 and kept.nnz == 2
    assert kept.toarray().tolist() == [[0, 0, 1], [0, 0, 0], [2, 0, 0]]


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


@pytest.mark.parametrize("n_items", [40, DENSE_ITEMS + 1])
def test_links_read_the_current_matrix_as_scipy_indexes_it(n_items: int) -> None:
    rng = np.random.default_rng(n_items)
    made = [sp.random(n_items, n_items, density=0.2, format="csr", dtype=np.float32,
                      random_state=seed) for seed in (1, 2)]
    neighbours = CoPurchase()
    for matrix in made:  # a new matrix (a retrained model) is read, not the copy of the old
        neighbours.load(matrix)
        rows = rng.choice(n_items, 5, replace=False)
        columns = rng.choice(n_items, 7, replace=False)
        links = neighbours.links(rows, columns)
        assert links.dtype == np.float32
        assert np.array_equal(links, matrix[rows][:, columns].toarray())
        assert neighbours.links([], columns).shape == (0, 7)


def test_because_names_the_bought_products_an_item_neighbours_closest_first() -> None:
    matrix = sp.csr_matrix(np.array([[0, 0.5, 0.9, 0, 0],    # item 0 links 1 and 2
                                     [0.5, 0, 0, 0.2, 0],
                                     [0.9, 0, 0, 0.7, 0],
                                     [0, 0.2, 0.7, 0, 0],
                                     [0, 0, 0, 0, 0]], dtype=np.float32))
    neighbours = CoPurchase().load(matrix)
    bought = np.array([1, 2, 3])
    assert neighbours.because(bought, [0, 4, 3]) == [[2, 1], [], [2, 1]]
    assert neighbours.because(bought, [0], top=1) == [[2]]
    assert neighbours.because(np.array([], dtype=np.int64), [0, 3]) == [[], []]
