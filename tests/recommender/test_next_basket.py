"""A shop model's next-basket parts (recommender.next_basket): fitted as the config says,
stored without pickle, erased per customer, served a row per customer."""

from __future__ import annotations

import io

import numpy as np
import pytest

from recommender.config import Config
from recommender.matrix import Interactions, build_interactions
from recommender.next_basket import NextBasket
from recommender.npz import npz_bytes
from tests.recommender.repeat_shop import repeat_heavy_shop

BOTH = Config(repeat_model=True, customers="tifu", customers_k=20, nurture_customers=0.5)


@pytest.fixture(scope="module")
def data() -> Interactions:
    return build_interactions(repeat_heavy_shop(customers=120))


def test_the_config_names_what_is_fitted(data) -> None:
    assert NextBasket.fit(data, Config()) == NextBasket()
    unweighed = NextBasket.fit(data, Config(customers="tifu"))  # no blend weighs them
    assert unweighed.customers is None
    parts = NextBasket.fit(data, BOTH)
    assert parts.repeat is not None and parts.customers is not None
    assert parts.repeat.shape == parts.customers.matrix.shape == data.user_items.shape


def test_the_parts_are_stored_without_pickle_and_read_back(data) -> None:
    parts = NextBasket.fit(data, BOTH)
    arrays = parts.to_arrays(data.user_items)
    assert "user_repeat_indices" not in arrays  # shared with user_items
    with np.load(io.BytesIO(npz_bytes(arrays)), allow_pickle=False) as stored:
        read = NextBasket.from_arrays(stored, BOTH, data.user_items)
    assert read.repeat is not None and read.customers is not None
    assert parts.repeat is not None and parts.customers is not None
    np.testing.assert_array_equal(read.repeat.toarray(), parts.repeat.toarray())
    np.testing.assert_array_equal(read.customers.matrix.toarray(),
                                  parts.customers.matrix.toarray())
    with np.load(io.BytesIO(npz_bytes({"other": np.zeros(1)})), allow_pickle=False) as none:
        assert NextBasket.from_arrays(none, BOTH, data.user_items) == NextBasket()


def test_customer_rows_are_the_trained_rows_and_zero_for_strangers(data) -> None:
    parts = NextBasket.fit(data, BOTH)
    assert parts.customers is not None
    rows = parts.customer_rows([5, None, 0], data.n_items)
    np.testing.assert_array_equal(rows[0], parts.customers.matrix[5].toarray()[0])
    assert not rows[1].any()
    assert rows[0].any() and rows[2].any()
    assert not NextBasket().customer_rows([5], data.n_items).any()


def test_without_users_drops_their_rows(data) -> None:
    parts = NextBasket.fit(data, BOTH)
    keep = np.ones(data.n_users, bool)
    keep[[0, 7]] = False
    kept = parts.without_users(keep)
    assert kept.repeat is not None and parts.repeat is not None
    assert kept.customers is not None and parts.customers is not None
    np.testing.assert_array_equal(kept.repeat.toarray(), parts.repeat.toarray()[keep])
    np.testing.assert_array_equal(kept.customers.matrix.toarray(),
                                  parts.customers.matrix.toarray()[keep])
    assert NextBasket().without_users(keep) == NextBasket()
