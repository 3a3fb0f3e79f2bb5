"""Experiments at serving time (plugin.engine.experiments) on the real embedded Redis: the
unit of a request (visitor, carried over to the customer), exposure counted once, an event
batch counted for the arm its unit is really in, and the stop that freezes the results."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from plugin.engine.experiments import (
    Tagged,
    assign,
    count_batch,
    results_of,
    served_by,
    ship,
    stop,
)
from plugin.store import keys
from plugin.store.cache import ShopCache
from plugin.store.experiment_data import Counted, experiment_data
from plugin.store.experiments import (
    Experiment,
    create_experiment,
    customer_unit,
    get_experiment,
    new_experiment,
    start_experiment,
)
from plugin.store.shops import Shop, get_shop
from tests.conftest import Store
from tests.helpers import visitor_in

NOW = 1_800_000_000.0
AB = [{"name": "A", "strategy": "chosen", "share": 50},
      {"name": "B", "strategy": "holdout", "share": 50}]


async def started(redis: aioredis.Redis, shop_id: str, placement: str = "bundle"
                  ) -> tuple[Experiment, Shop]:
    experiment = new_experiment("test", placement, AB, NOW)
    await create_experiment(redis, shop_id, experiment)
    experiment = await start_experiment(redis, shop_id, experiment.experiment_id, NOW)
    shop = await get_shop(redis, shop_id)
    assert shop is not None
    return experiment, shop


def test_a_visitor_is_exposed_once_in_its_arm(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[Any, ...]:
        experiment, shop = await started(redis, shop_id)
        cache = ShopCache(redis)
        visitor = visitor_in(experiment, 1)
        first = await assign(cache, shop, "bundle", visitor, None, NOW)
        again = await assign(cache, shop, "bundle", visitor, None, NOW + 1)
        elsewhere = await assign(cache, shop, "cart", visitor, None, NOW)
        nobody = await assign(cache, shop, "bundle", None, None, NOW)
        found = await experiment_data(redis, shop_id, experiment.experiment_id)
        return first, again, elsewhere, nobody, found.counts

    first, again, elsewhere, nobody, counts = store.run(work)
    assert first == again and first.arm.name == "B" and first.unit.startswith("v:")
    assert first.fields() == {"experiment": first.experiment.experiment_id, "arm": "B"}
    assert elsewhere is None and nobody is None
    assert counts == {"1:visitors": 1}


def test_a_customer_keeps_the_arm_of_the_visitor_they_signed_in_with(store: Store,
                                                                    make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[Any, ...]:
        experiment, shop = await started(redis, shop_id)
        phone, laptop = visitor_in(experiment, 0), visitor_in(experiment, 1)
        signed_in = await assign(ShopCache(redis), shop, "bundle", phone, "c1", NOW)
        # another process, another device: the pin is read from Redis
        other_device = await assign(ShopCache(redis), shop, "bundle", laptop, "c1", NOW)
        alone = await assign(ShopCache(redis), shop, "bundle", None, "c2", NOW)
        return signed_in, other_device, alone

    signed_in, other_device, alone = store.run(work)
    assert other_device.unit == signed_in.unit and other_device.arm.name == "A"
    assert alone.unit == customer_unit("c2") and "c2" not in alone.unit


def test_an_event_counts_for_the_arm_its_visitor_is_really_in(store: Store,
                                                              make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> dict[str, int]:
        experiment, shop = await started(redis, shop_id)
        cache = ShopCache(redis)
        visitor = visitor_in(experiment, 0)
        await assign(cache, shop, "bundle", visitor, None, NOW)
        forged = [Tagged(experiment.experiment_id, "B", "bundle",
                         Counted(f"ev-{n:06d}", "click")) for n in range(3)]
        stale = [Tagged("exp_000000000000", "A", "bundle", Counted("ev-999999", "click"))]
        assert await count_batch(cache, shop, visitor, None, forged + stale) == 3
        return (await experiment_data(redis, shop_id, experiment.experiment_id)).counts

    assert store.run(work) == {"0:visitors": 1, "0:click": 3, "0:clicked": 1}


def test_a_batch_naming_a_customer_pins_them_to_its_visitor(store: Store,
                                                           make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[str, Any]:
        experiment, shop = await started(redis, shop_id)
        visitor = visitor_in(experiment, 1)
        await count_batch(ShopCache(redis), shop, visitor, "c7", [])
        later = await assign(ShopCache(redis), shop, "bundle", "someone-else", "c7", NOW)
        return visitor, later

    visitor, later = store.run(work)
    assert later.unit == f"v:{visitor}" and later.arm.name == "B"


def test_a_stop_freezes_the_results_and_shipping_serves_the_arm(store: Store,
                                                               make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[Any, ...]:
        experiment, shop = await started(redis, shop_id, "cart")
        cache = ShopCache(redis)
        for n in range(40):
            await assign(cache, shop, "cart", f"visitor-{n}", None, NOW)
        live = await results_of(redis, shop_id, experiment, NOW + 1)
        stopped = await stop(redis, shop_id, experiment.experiment_id, NOW + 2)
        await redis.hincrby(keys.experiment_counts(shop_id, experiment.experiment_id),
                            "0:visitors", 100)  # whatever happens after the stop
        kept = await results_of(redis, shop_id, stopped, NOW + 3)
        shipped = await ship(redis, shop_id, experiment.experiment_id, "B")
        reread = await get_experiment(redis, shop_id, experiment.experiment_id)
        return live, stopped, kept, shipped, reread, await get_shop(redis, shop_id)

    live, stopped, kept, shipped, reread, shop = store.run(work)
    assert sum(a["visitors"] for a in live["arms"]) == 40
    assert kept == stopped.results and kept["computed_at"] == live["computed_at"] + 1
    assert [a["visitors"] for a in kept["arms"]] == [a["visitors"] for a in live["arms"]]
    assert shipped.status == "shipped" and reread.results == kept
    assert served_by(shop, "cart", None) == "holdout" and served_by(shop, "home", None) == \
        "chosen"


def test_shipping_a_running_experiment_stops_it_first(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[Experiment, Shop | None]:
        experiment, _shop = await started(redis, shop_id)
        shipped = await ship(redis, shop_id, experiment.experiment_id, "A", NOW + 5)
        return shipped, await get_shop(redis, shop_id)

    shipped, shop = store.run(work)
    assert shipped.stopped_at == NOW + 5 and shipped.results is not None
    assert shop is not None and shop.experiments == () and shop.serving == ()
