"""What an experiment counts (plugin.store.experiment_data) on the real embedded Redis: a unit
exposed once, a customer pinned to their visitor's unit, events counted once for the unit's
own arm, and orders counted for the arm of their customer's unit while the experiment runs
(never before the exposure, no more once cancelled, frozen after the stop)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.erasure import erase_customer
from plugin.store.experiment_data import (
    Counted,
    ExperimentData,
    count_events,
    experiment_data,
    expose,
    pin_customer,
    pinned_unit,
)
from plugin.store.experiments import (
    Experiment,
    arm_index,
    create_experiment,
    customer_unit,
    new_experiment,
    start_experiment,
    stop_experiment,
)
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order, store_orders
from tests.conftest import Store

NOW = 1_800_000_000.0
AB = [{"name": "A", "strategy": "chosen", "share": 50},
      {"name": "B", "strategy": "popularity", "share": 50}]


def running(store: Store, shop_id: str, started: float = NOW) -> Experiment:
    experiment = new_experiment("test", "bundle", AB, NOW)

    async def work(redis: aioredis.Redis) -> Experiment:
        await create_experiment(redis, shop_id, experiment)
        return await start_experiment(redis, shop_id, experiment.experiment_id, started)
    return store.run(work)


def read(store: Store, shop_id: str, experiment: Experiment) -> ExperimentData:
    return store.run(lambda r: experiment_data(r, shop_id, experiment.experiment_id))


def an_order(order_id: str, customer: str | None, at: float, price: str = "10.00",
             currency: str = "EUR", cancelled: bool = False) -> Order:
    line = LineItem("p1", None, "Product", 2, price, f"{order_id}-1")
    return Order(order_id, customer, at, at, cancelled, currency, price, (line,))


def unit_in(experiment: Experiment, arm: int, start: int = 0) -> str:
    return next(f"v:{n}" for n in range(start, 10_000)
                if arm_index(experiment, f"v:{n}") == arm)


def test_a_unit_is_exposed_once_in_its_arm(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = running(store, shop_id)
    unit = unit_in(experiment, 1)
    for at in (NOW, NOW + 5):
        assert store.run(lambda r, at=at: expose(r, shop_id, experiment, unit, None, at)) == unit
    found = read(store, shop_id, experiment)
    assert found.count(1, "visitors") == 1 and found.count(0, "visitors") == 0


def test_a_customer_is_pinned_to_the_first_unit_seen_with_them(store: Store,
                                                               make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = running(store, shop_id)
    first, second = unit_in(experiment, 0), unit_in(experiment, 1)

    async def work(redis: aioredis.Redis) -> tuple[str, str, str | None, str]:
        one = await expose(redis, shop_id, experiment, first, "c9", NOW)
        other_device = await expose(redis, shop_id, experiment, second, "c9", NOW)
        pinned = await pinned_unit(redis, shop_id, experiment.experiment_id, "c9")
        return one, other_device, pinned, await pin_customer(
            redis, shop_id, experiment.experiment_id, "c9", second)

    assert store.run(work) == (first, first, first, first)
    found = read(store, shop_id, experiment)
    assert (found.count(0, "visitors"), found.count(1, "visitors")) == (1, 0)


def test_events_count_once_for_the_units_arm_and_only_once_exposed(store: Store,
                                                                   make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = running(store, shop_id)
    unit, stranger = unit_in(experiment, 1), unit_in(experiment, 1, 5000)
    events = [Counted("e-00000001", "impression"), Counted("e-00000002", "impression"),
              Counted("e-00000003", "click"), Counted("e-00000004", "click"),
              Counted("e-00000005", "add_to_cart")]

    async def work(redis: aioredis.Redis) -> list[int]:
        never_shown = await count_events(redis, shop_id, experiment, stranger, events)
        await expose(redis, shop_id, experiment, unit, None, NOW)
        return [never_shown, await count_events(redis, shop_id, experiment, unit, events),
                await count_events(redis, shop_id, experiment, unit, events)]  # a resend

    assert store.run(work) == [0, 5, 0]
    found = read(store, shop_id, experiment)
    assert {k: v for k, v in found.counts.items() if k.startswith("1:")} == {
        "1:visitors": 1, "1:impression": 2, "1:click": 2, "1:clicked": 1,
        "1:add_to_cart": 1, "1:added": 1}


def test_orders_count_for_the_arm_of_their_customers_unit(store: Store,
                                                          make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = running(store, shop_id)
    unit = unit_in(experiment, 1)

    async def work(redis: aioredis.Redis) -> None:
        await store_order(redis, shop_id, an_order("before", "c1", NOW + 5))  # not yet shown
        await expose(redis, shop_id, experiment, unit, "c1", NOW + 10)
        await store_orders(redis, shop_id, [
            an_order("eur", "c1", NOW + 20, "12.50"), an_order("usd", "c1", NOW + 30, "7.25",
                                                               "USD"),
            an_order("guest", None, NOW + 30), an_order("stranger", "c2", NOW + 30)])
        await store_order(redis, shop_id, an_order("before", "c1", NOW + 5))  # again: still

    store.run(work)
    found = read(store, shop_id, experiment)
    assert [(o.order_id, o.unit, o.arm, o.currency, o.value) for o in found.orders] == [
        ("eur", unit, 1, "EUR", Decimal("25.00")), ("usd", unit, 1, "USD", Decimal("14.50"))]


def test_a_cancelled_order_stops_counting_and_a_stop_freezes_them(store: Store,
                                                                  make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = running(store, shop_id)
    unit = unit_in(experiment, 0)

    async def work(redis: aioredis.Redis) -> tuple[list[str], list[str]]:
        await expose(redis, shop_id, experiment, unit, "c1", NOW)
        for order_id in ("a", "b"):
            await store_order(redis, shop_id, an_order(order_id, "c1", NOW + 10))
        cancelled = an_order("a", "c1", NOW + 10, cancelled=True)
        await store_order(redis, shop_id, replace(cancelled, updated_at=NOW + 11))
        while_running = [o.order_id for o in (await experiment_data(
            redis, shop_id, experiment.experiment_id)).orders]
        await stop_experiment(redis, shop_id, experiment.experiment_id, NOW + 20)
        await store_order(redis, shop_id, an_order("c", "c1", NOW + 15))  # late: not counted
        late = replace(an_order("b", "c1", NOW + 10, cancelled=True), updated_at=NOW + 30)
        await store_order(redis, shop_id, late)
        frozen = [o.order_id for o in (await experiment_data(
            redis, shop_id, experiment.experiment_id)).orders]
        return while_running, frozen

    assert store.run(work) == (["b"], ["b"])


def test_an_erased_customer_leaves_no_trace_in_an_experiment(store: Store,
                                                             make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = running(store, shop_id)

    async def work(redis: aioredis.Redis) -> list[str]:
        await expose(redis, shop_id, experiment, unit_in(experiment, 0), "7300000001", NOW)
        await expose(redis, shop_id, experiment, customer_unit("7300000002"), "7300000002",
                     NOW)
        for order_id, customer in (("9100000001", "7300000001"), ("9100000002", "7300000002")):
            await store_order(redis, shop_id, an_order(order_id, customer, NOW + 10))
        for customer in ("7300000001", "7300000002"):
            await erase_customer(redis, shop_id, customer)
        held = []
        async for key in redis.scan_iter(match=keys.shop_pattern(shop_id)):
            if b":experiment:" in key:
                held.append(repr(await redis.hgetall(key)))
        return held

    held = " ".join(store.run(work))
    for needle in ("7300000001", "7300000002", "9100000001", "9100000002"):
        assert needle not in held
