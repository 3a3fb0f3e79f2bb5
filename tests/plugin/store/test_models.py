"""The model registry on the real embedded Redis: publishing keeps the serving version and the
one before it, the lock keeps two writers apart."""

from __future__ import annotations

import json
import time

import pytest

from plugin.store import keys
from plugin.store.models import (
    current_model_info,
    model_keys,
    model_lock,
    publish_model,
)
from recommender.matrix import Purchase
from recommender.shop_model import ShopModel


def tiny_model() -> bytes:
    purchases = [Purchase(f"o{n}", f"c{n % 4}", f"p{n % 5}", 1, 1_700_000_000.0 + n)
                 for n in range(40)]
    return ShopModel.train(purchases).to_bytes()


def test_publish_switches_the_current_version_and_keeps_one_previous(store, shop) -> None:
    shop_id = shop.shop.shop_id
    blob = tiny_model()
    versions = [store.run(lambda r, n=n: publish_model(r, shop_id, blob, {"n": n})).version
                for n in range(3)]
    assert versions == ["1", "2", "3"]
    info = store.run(lambda r: current_model_info(r, shop_id))
    assert info is not None and info.version == "3" and info.meta["n"] == 2
    stored = store.run(lambda r: model_keys(r, shop_id))
    assert sorted(stored) == sorted([keys.model(shop_id, "2"), keys.model(shop_id, "3")])
    meta = store.run(lambda r: r.hget(keys.model(shop_id, "3"), "meta"))
    assert json.loads(meta)["version"] == "3"


def test_no_model_yet_has_no_info(store, shop) -> None:
    assert store.run(lambda r: current_model_info(r, shop.shop.shop_id)) is None


def test_the_lock_keeps_a_second_writer_out_until_released(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def second_while_first_holds(redis) -> tuple[bool, float]:
        async with model_lock(redis, shop_id, wait=1):
            try:
                async with model_lock(redis, shop_id, wait=0.3):
                    return True, 0.0
            except TimeoutError:
                started = time.monotonic()
        async with model_lock(redis, shop_id, wait=1):  # released: free again at once
            return False, time.monotonic() - started

    got_in, after_release = store.run(second_while_first_holds)
    assert got_in is False and after_release < 0.5
    assert store.run(lambda r: r.exists(keys.train_lock(shop_id))) == 0


@pytest.mark.parametrize("bad", ["", "UPPER", "a/b"])
def test_keys_refuse_a_bad_shop_id(bad) -> None:
    with pytest.raises(ValueError, match="shop id must match"):
        keys.model_current(bad)
