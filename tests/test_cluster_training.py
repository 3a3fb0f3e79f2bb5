"""Training spread over trainers on a real Redis Cluster (tests/cluster.py): two auto-trainers,
each with its own cluster client as two worker processes would have, train the due shops
between them, each shop exactly once (the shop's model lock is one key in the shop's slot),
and every shop's model is published and served from its own slot."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from plugin.engine.training import AutoTrainer
from plugin.store import keys
from plugin.store.models import current_model_info
from plugin.store.shops import shop_ids
from tests.conftest import ClusterStore
from tests.plugin.engine.test_training import basket_orders, shop_with

SHOPS = 6


@pytest.fixture(scope="module")
def store(cluster_store: ClusterStore) -> ClusterStore:
    return cluster_store


def test_two_trainers_share_the_due_shops_and_train_each_once(store: ClusterStore,
                                                              make_shop: Any) -> None:
    due = [shop_with(store, make_shop, basket_orders(12, start=100 * n)) for n in range(SHOPS)]
    now = time.time()
    for shop_id in due:
        store.run(lambda r, s=shop_id: r.hset(keys.train_dirty(s), mapping={
            "first": repr(now - 700), "last": repr(now - 700)}))

    async def two_trainers(_: aioredis.Redis) -> tuple[list[str], list[str]]:
        clients = [store.client(), store.client()]
        try:
            for client in clients:
                await store.ready(client)
            found = await asyncio.gather(*(
                AutoTrainer(client, debounce=60, max_delay=600,
                            tuning_seconds=0).train_due_shops() for client in clients))
            return found[0], found[1]
        finally:
            for client in clients:
                await client.aclose()

    first, second = store.run(two_trainers)
    trained = [s for s in (*first, *second) if s in due]
    assert sorted(trained) == sorted(due)  # every due shop, none twice
    assert set(first) & set(due) and set(second) & set(due)  # both trainers took some
    for shop_id in due:
        assert store.run(lambda r, s=shop_id: r.get(keys.model_sequence(s))) == b"1"
        assert store.run(lambda r, s=shop_id: current_model_info(r, s)) is not None
        assert not store.run(lambda r, s=shop_id: r.exists(keys.train_dirty(s)))
    assert set(due) <= set(store.run(shop_ids))
