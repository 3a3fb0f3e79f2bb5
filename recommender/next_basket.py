"""The next-basket parts of a shop model (issue 16), fitted as its Config names them: the
learned chance of each repeat (recommender.repeat, Config.repeat_model) and what each
customer's nearest customers buy (recommender.customers, Config.customers); stored with the
model's arrays (recommender.npz, no pickle) and served a row per customer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.config import Config
from recommender.customers import CustomerNeighbours
from recommender.matrix import Interactions
from recommender.npz import csr_arrays, csr_from
from recommender.repeat import RepeatModel
from recommender.rows import row_of


@dataclass(frozen=True)
class NextBasket:
    """`repeat`: CSR float32 like the model's user_items (the same entries), each pair's
    learned chance of a repeat, or None (not asked for, or too little history to learn it);
    `customers`: the fitted customer neighbours, or None."""

    repeat: sp.csr_matrix | None = None
    customers: CustomerNeighbours | None = None

    @classmethod
    def fit(cls, data: Interactions, config: Config) -> NextBasket:
        repeat = None
        if config.repeat_model:
            model = RepeatModel.fit(data)
            repeat = None if model is None else model.scores(data)
        customers = config.customer_neighbours().fit(data) if config.uses_customers else None
        return cls(repeat, customers)

    def to_arrays(self, user_items: sp.csr_matrix) -> dict[str, np.ndarray]:
        """Named arrays of the parts fitted (`from_arrays` reads them); the repeats share
        `user_items`' structure."""
        arrays = {}
        if self.repeat is not None:
            arrays.update(csr_arrays("user_repeat", self.repeat, like=user_items))
        if self.customers is not None:
            arrays.update(csr_arrays("customers", self.customers.matrix))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: np.lib.npyio.NpzFile, config: Config,
                    user_items: sp.csr_matrix) -> NextBasket:
        """The parts `to_arrays` stored (none in a model stored without them)."""
        files = set(arrays.files)
        repeat = (csr_from(arrays, "user_repeat", user_items)
                  if "user_repeat_shape" in files else None)
        customers = (config.customer_neighbours().load(csr_from(arrays, "customers"))
                     if "customers_shape" in files and config.customers else None)
        return cls(repeat, customers)

    def without_users(self, keep: np.ndarray) -> NextBasket:
        """The same parts holding only the users where `keep` (bool (users,)) is True."""
        return NextBasket(None if self.repeat is None else sp.csr_matrix(self.repeat[keep]),
                          None if self.customers is None else self.customers.without_users(keep))

    def customer_rows(self, users: Sequence[int | None], n_items: int) -> np.ndarray:
        """float64 (len(users), n_items): what the nearest customers of each of `users` (rows
        of the model, None: a customer it was not trained on) buy; 0 for None, or without
        customer neighbours. A known customer's row is the one trained."""
        rows = np.zeros((len(users), n_items))
        if self.customers is None:
            return rows
        for k, user in enumerate(users):
            if user is not None:
                found = row_of(self.customers.matrix, user)
                rows[k, found.indices] = found.data
        return rows
