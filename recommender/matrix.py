"""Purchase rows to the sparse matrices every model reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, slots=True)
class Purchase:
    """One product line of one order. `customer_id` None marks a guest basket."""

    order_id: str
    customer_id: str | None
    product_id: str
    quantity: int
    timestamp: float


@dataclass(frozen=True)
class Interactions:
    """Id maps and matrices built from purchases.

    user_items: CSR float32 (users, items), the number of orders in which the customer
        bought the item (guests excluded).
    basket_items: CSR float32 (baskets, items), 1 where the order holds the item (guests
        included: they still say what goes together).
    line_items / line_times / line_users / line_baskets: per purchase line (positive
        quantity, in the order given): its item, epoch seconds, user (-1: a guest) and basket.
    """

    user_ids: np.ndarray  # str (users,)
    item_ids: np.ndarray  # str (items,)
    user_items: sp.csr_matrix
    basket_items: sp.csr_matrix
    line_items: np.ndarray  # int32 item index per purchase line
    line_times: np.ndarray  # float64 epoch seconds per purchase line
    line_users: np.ndarray  # int32 user index per purchase line, -1 for a guest
    line_baskets: np.ndarray  # int32 basket index per purchase line

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class PurchaseLines:
    """Purchase lines as columns, each id coded: `orders`, `customers` and `products` are
    int64 per line, indices into `order_ids`, `customer_ids` (-1: a guest) and `product_ids`
    (which may hold ids no line uses); `quantities` int64 and `times` float64 epoch seconds
    per line. What a list of Purchase says, without an object per line (bulk reads build it
    column by column)."""

    order_ids: Sequence[str]
    customer_ids: Sequence[str]
    product_ids: Sequence[str]
    orders: np.ndarray
    customers: np.ndarray
    products: np.ndarray
    quantities: np.ndarray
    times: np.ndarray

    @classmethod
    def of(cls, purchases: Iterable[Purchase]) -> PurchaseLines:
        rows = purchases if isinstance(purchases, list) else list(purchases)
        (orders, order_codes), (customers, customer_codes), (products, product_codes) = (
            coded([p.order_id for p in rows]), coded([p.customer_id for p in rows]),
            coded([p.product_id for p in rows]))
        return cls(orders, customers, products, order_codes, customer_codes, product_codes,
                   np.array([p.quantity for p in rows], np.int64),
                   np.array([p.timestamp for p in rows], np.float64))

    def __len__(self) -> int:
        return len(self.orders)

    def purchases(self) -> list[Purchase]:
        """The lines as Purchase objects, in their order."""
        customers = [*self.customer_ids, None]  # code -1: the last
        return [Purchase(self.order_ids[o], customers[c], self.product_ids[p], q, t)
                for o, c, p, q, t in zip(self.orders.tolist(), self.customers.tolist(),
                                         self.products.tolist(), self.quantities.tolist(),
                                         self.times.tolist(), strict=True)]


def build_interactions(purchases: Iterable[Purchase] | PurchaseLines) -> Interactions:
    lines = purchases if isinstance(purchases, PurchaseLines) else PurchaseLines.of(purchases)
    kept = lines.quantities > 0
    if not kept.any():
        raise ValueError("purchases must hold at least one line with a positive quantity")
    if not kept.all():
        lines = PurchaseLines(lines.order_ids, lines.customer_ids, lines.product_ids,
                              lines.orders[kept], lines.customers[kept], lines.products[kept],
                              lines.quantities[kept], lines.times[kept])
    item_ids, items = ranked(lines.product_ids, lines.products)
    basket_ids, baskets = ranked(lines.order_ids, lines.orders)
    user_ids, users = ranked(lines.customer_ids, lines.customers)
    basket_items = _binary_csr(baskets, items, (len(basket_ids), len(item_ids)))
    ones = np.ones(len(lines), np.float32)
    return Interactions(
        user_ids=user_ids,
        item_ids=item_ids,
        user_items=summed_orders(users, baskets, items, [ones], (len(user_ids), len(item_ids)),
                                 basket_items)[0],
        basket_items=basket_items,
        line_items=items.astype(np.int32),
        line_times=lines.times,
        line_users=users.astype(np.int32),
        line_baskets=baskets.astype(np.int32),
    )


def factorize(values: Iterable[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct `values` but None, sorted, a str array; int64 index of each value in it,
    -1 for None): what np.unique(values, return_inverse=True) answers, without sorting every
    value."""
    return ranked(*coded(values if isinstance(values, list) else list(values)))


def coded(values: Sequence[str | None]) -> tuple[list[str], np.ndarray]:
    """(the distinct `values` but None, first seen first; int64 index of each value in them,
    -1 for None), a dict lookup a value."""
    index: dict[str | None, int] = dict.fromkeys(values, 0)
    index.pop(None, None)
    distinct: list[str] = list(index)  # type: ignore[arg-type]  # None is gone
    index.update(zip(distinct, range(len(distinct)), strict=True))
    index[None] = -1
    return distinct, np.fromiter(map(index.__getitem__, values), np.int64, len(values))


def ranked(ids: Sequence[str], codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the ids `codes` (int64 indices into `ids`, -1: none) use, sorted, a str array; int64
    index of each code's id in it, -1 for -1)."""
    used = np.zeros(len(ids) + 1, bool)  # the last: code -1
    used[codes] = True
    present = np.flatnonzero(used[:-1])
    distinct = np.array(ids if len(present) == len(ids) else [ids[i] for i in present.tolist()],
                        dtype=str)
    order = np.argsort(distinct, kind="stable")
    rank = np.full(len(ids) + 1, -1, np.int64)  # code -1 stays -1
    rank[present[order]] = np.arange(len(order))
    return distinct[order], rank[codes]


def summed_orders(users: np.ndarray, orders: np.ndarray, items: np.ndarray,
                  weights: Sequence[np.ndarray], shape: tuple[int, int],
                  basket_items: sp.csr_matrix | None = None) -> list[sp.csr_matrix]:
    """Per array of `weights` (float32 per line), CSR float32 `shape` (users, items): per user
    and item, the weights of the user's orders holding the item added up, each order's taken
    from its first line holding the item (an order holding an item twice counts once); a sum
    of 0 (weights decayed below float32) is no entry.

    The lines are given as their user (-1: a guest's, left out), order and item indices.
    With `basket_items` (CSR (orders, items), 1 where the order holds the item), the orders
    whose lines share one user and one weight are added up as one sparse product, the others
    line by line.
    """
    if basket_items is None:
        return [_first_lines_summed(users, orders, items, weight, shape) for weight in weights]
    owners, mixed_users = _per_order(users, orders, basket_items.shape[0])
    found = []
    for weight in weights:
        per_order, mixed_weights = _per_order(weight, orders, len(owners))
        mixed = mixed_users | mixed_weights
        alike = np.flatnonzero((owners >= 0) & ~mixed)
        by_user = sp.csr_matrix((per_order[alike], (owners[alike], alike)),
                                shape=(shape[0], len(owners)))
        summed = by_user @ basket_items
        lines = np.flatnonzero(mixed[orders])
        if len(lines):
            summed = summed + _first_lines_summed(users[lines], orders[lines], items[lines],
                                                  weight[lines], shape)
        summed = sp.csr_matrix(summed, dtype=np.float32)
        summed.sort_indices()
        found.append(summed)
    return found


def _per_order(values: np.ndarray, orders: np.ndarray,
               n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """(orders,): the value of each order's lines (its last line's), and bool (orders,):
    whether its lines' values differ."""
    shared = np.zeros(n_orders, values.dtype)
    shared[orders] = values
    mixed = np.zeros(n_orders, bool)
    mixed[orders[shared[orders] != values]] = True
    return shared, mixed


def _first_lines_summed(users: np.ndarray, orders: np.ndarray, items: np.ndarray,
                        weight: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """summed_orders of one array of weights, line by line."""
    first = first_of_each(users, orders, items)
    first = first[users[first] >= 0]
    summed = sp.csr_matrix((weight[first], (users[first], items[first])), shape=shape)
    summed.sum_duplicates()
    summed.eliminate_zeros()  # as a sparse product leaves them
    return summed


def first_of_each(*columns: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct tuple of `columns` (int arrays of one
    length), in the order of the tuples sorted: np.unique(np.stack(columns), axis=1,
    return_index=True)'s, as one lexsort."""
    order = np.lexsort(columns[::-1])
    if not len(order):
        return order
    changed = np.zeros(len(order), bool)
    changed[0] = True
    for column in columns:
        ranked = column[order]
        changed[1:] |= ranked[1:] != ranked[:-1]
    return order[changed]


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
