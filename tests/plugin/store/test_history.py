"""plugin.store.history: a customer's history as personal recommendations read it."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from plugin.store import history as history_module
from plugin.store import keys
from plugin.store.history import (
    customer_history,
    net_quantities,
    read_histories,
)
from plugin.store.order import Order, Refund
from plugin.store.records import store_order
from tests.conftest import Store
from tests.plugin.store.test_records import T0, an_order, shop_id_of


def test_a_customers_history_counts_their_orders_that_still_count(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    refunded = replace(an_order("4", "c1", T0 + 3, ("p4",)), refunds=(Refund("r", "4-0", 1),))

    async def work(redis: Any) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        for one in (an_order("1", "c1", T0, ("p1", "p2")), an_order("2", "c1", T0 + 1, ("p1",)),
                    an_order("3", "c1", T0 + 2, ("p3",), cancelled=True), refunded,
                    an_order("5", "c2", T0 + 4, ("p5",))):
            await store_order(redis, shop_id, one)
        await redis.zadd(keys.customer_orders(shop_id, "c1"), {"5": T0 + 5, "gone": T0 + 6})
        return (await customer_history(redis, shop_id, "c1"),
                await customer_history(redis, shop_id, "c1", newest=5),  # skips 5 and gone
                await customer_history(redis, shop_id, "nobody"))

    everything, newest, nobody = store.run(work)
    assert everything == {"p1": 2, "p2": 1}  # not cancelled, refunded or someone else's
    assert newest == {"p1": 1}  # orders 4, 3 and 2 (and two that are not theirs)
    assert nobody == {}


def test_a_partly_refunded_line_counts_and_unicode_ids_come_back_as_stored(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    two = replace(an_order("7", "kundé-1", T0, ("tässe", "p2"), quantity=2),
                  refunds=(Refund("r1", "7-0", 1), Refund("r2", "7-1", 1), Refund("r3", "7-1", 1)))

    async def work(redis: Any) -> dict[str, int]:
        await store_order(redis, shop_id, two)
        await store_order(redis, shop_id, an_order("8", "kundé-1", T0 + 1, ("tässe",)))
        return await customer_history(redis, shop_id, "kundé-1")

    assert store.run(work) == {"tässe": 2}  # p2's two were given back


def test_stored_values_that_are_no_order_are_skipped_and_logged(
        store: Store, make_shop: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Before the shop's line records are complete the orders' JSON is read."""
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> dict[str, int]:
        await store_order(redis, shop_id, an_order("1", "c1", T0, ("p1",)))
        await redis.delete(keys.order_lines_ready(shop_id))
        await redis.hset(keys.orders(shop_id), mapping={"2": b"\xff not json", "3": b"[1]"})
        await redis.zadd(keys.customer_orders(shop_id, "c1"), {"2": T0 + 1, "3": T0 + 2})
        return await customer_history(redis, shop_id, "c1")

    with caplog.at_level(logging.WARNING, logger="plugin.store.history"):
        assert store.run(work) == {"p1": 1}
    assert len(caplog.records) == 2


def test_the_line_records_give_what_the_orders_json_gives(store: Store, make_shop: Any) -> None:
    """Histories are read from the orders' line records once they are complete; the same
    as from the orders themselves: refunds, cancellations, a product on two lines, an order
    moved to another customer, unicode ids, a guest, the newest only."""
    shop_id = shop_id_of(make_shop)
    customers = ["c1", "kundé", "c2", "nobody"]
    refunded = replace(an_order("2", "c1", T0 + 1, ("p1", "p2"), quantity=2),
                       refunds=(Refund("r1", "2-0", 2), Refund("r2", "2-1", 1)))

    async def work(redis: Any) -> tuple[list[dict[str, int]], list[dict[str, int]], bool]:
        for order in (an_order("1", "c1", T0, ("p1", "p1", "p3")), refunded,
                      an_order("3", "c1", T0 + 2, ("p3",), cancelled=True),
                      an_order("4", "kundé", T0 + 3, ("tässe", "p1")),
                      an_order("5", "c2", T0 + 4, ("p2",)), an_order("6", None, T0, ("p9",)),
                      an_order("7", "c1", T0 + 5, ("p4",))):
            await store_order(redis, shop_id, order)
        await redis.zadd(keys.customer_orders(shop_id, "c2"), {"7": T0 + 6})  # moved from c2
        ready = bool(await redis.exists(keys.order_lines_ready(shop_id)))
        from_records = [await customer_history(redis, shop_id, c, newest=n)
                        for c in customers for n in (2, 500)]
        await redis.delete(keys.order_lines_ready(shop_id))
        from_orders = [await customer_history(redis, shop_id, c, newest=n)
                       for c in customers for n in (2, 500)]
        return from_records, from_orders, ready

    from_records, from_orders, ready = store.run(work)
    assert ready and from_records == from_orders
    assert from_records == [{"p4": 1}, {"p1": 1, "p3": 1, "p2": 1, "p4": 1},
                            {"tässe": 1, "p1": 1}, {"tässe": 1, "p1": 1},
                            {"p2": 1}, {"p2": 1}, {}, {}]


def test_net_quantities_are_what_the_order_model_says() -> None:
    order = replace(an_order("9", "c1", T0, ("a", "b", "c"), quantity=3),
                    refunds=(Refund("r1", "9-0", 1), Refund("r2", "9-1", 5)))
    order = replace(order, lines=(*order.lines, replace(order.lines[0], line_id=None)))
    data = Order.from_json(order.to_json())
    as_json = json.loads(order.to_json())
    assert net_quantities(as_json["lines"], as_json["refunds"]) == \
        [data.net_quantity(line) for line in data.lines] == [2, 0, 3, 3]
    assert net_quantities(as_json["lines"], []) == [3, 3, 3, 3]


@pytest.mark.parametrize("per_call", [64, 3])
def test_histories_of_a_page_equal_each_customers_also_after_a_script_flush(
        store: Store, make_shop: Any, per_call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One script call reads a page, or (more customers than PER_CALL) a pipeline of them."""
    monkeypatch.setattr(history_module, "PER_CALL", per_call)
    shop_id = shop_id_of(make_shop)
    customers = ["c1", "c2", "nobody", "c1"]

    async def work(redis: Any) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
        for n in range(6):
            await store_order(redis, shop_id, an_order(str(n), f"c{n % 2 + 1}", T0 + n,
                                                       (f"p{n % 3}",)))
        await redis.script_flush()  # a restarted server knows no script yet
        together = await read_histories(redis, shop_id, customers)
        assert await read_histories(redis, shop_id, []) == []
        return together, [await customer_history(redis, shop_id, c) for c in customers]

    together, one_by_one = store.run(work)
    assert together == one_by_one
    assert together[0] == {"p0": 1, "p2": 1, "p1": 1} and together[2] == {}


def test_reads_asked_for_together_share_one_round_trip_and_answer_alike(
        store: Store, make_shop: Any) -> None:
    """A burst of first calls: every read_histories of one turn of the event loop goes in one
    pipeline (across shops, a page of several beside single ones), and each caller gets what
    customer_history gives."""
    shop_id, other_shop = shop_id_of(make_shop), shop_id_of(make_shop)
    asked = [(shop_id, f"c{n}") for n in range(6)] + [(other_shop, "c1"), (shop_id, "nobody")]

    async def work(redis: Any) -> tuple[list[Any], list[Any], list[Any], list[str]]:
        for n in range(12):
            await store_order(redis, shop_id, an_order(str(n), f"c{n % 6}", T0 + n, (f"p{n}",)))
        await store_order(redis, other_shop, an_order("x", "c1", T0, ("q",)))
        await customer_history(redis, shop_id, "c0")  # the script is loaded
        trips = count_round_trips(redis)
        *singles, page = await asyncio.gather(
            *(read_histories(redis, s, [c]) for s, c in asked),
            read_histories(redis, shop_id, ["c5", "nobody", "c0"]))
        trips.append("then one alone")
        await read_histories(redis, shop_id, ["c1"])  # a batch of one
        one_by_one = [await customer_history(redis, s, c) for s, c in asked]
        return [single[0] for single in singles], page, one_by_one, trips

    together, page, one_by_one, trips = store.run(work)
    assert together == one_by_one and together[6] == {"q": 1} and together[7] == {}
    assert page == [one_by_one[5], {}, one_by_one[0]]
    assert trips[:3] == ["round trip", "then one alone", "round trip"]


def test_a_customer_asked_for_twice_in_a_burst_is_read_once(
        store: Store, make_shop: Any) -> None:
    """Two placements of one page ask for the same customer: Redis reads their order index
    once (its own command statistics count the reads the script makes)."""
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> tuple[list[Any], int]:
        for n in range(4):
            await store_order(redis, shop_id, an_order(str(n), f"c{n % 2}", T0 + n, (f"p{n}",)))
        await customer_history(redis, shop_id, "c0")  # the script is loaded
        await redis.config_resetstat()
        answers = await asyncio.gather(read_histories(redis, shop_id, ["c0"]),
                                       read_histories(redis, shop_id, ["c1", "c0"]),
                                       read_histories(redis, shop_id, ["c0"]))
        stats = await redis.info("commandstats")
        return answers, stats["cmdstat_zrevrange"]["calls"]

    answers, index_reads = store.run(work)
    assert answers == [[{"p0": 1, "p2": 1}], [{"p1": 1, "p3": 1}, {"p0": 1, "p2": 1}],
                       [{"p0": 1, "p2": 1}]]
    assert index_reads == 2  # c0 and c1, once each


def count_round_trips(redis: Any) -> list[str]:
    """A list that gets "round trip" each time the client takes a connection to send
    something (a pipeline takes one for all its commands)."""
    trips: list[str] = []
    take = redis.connection_pool.get_connection

    async def counted(*args: Any, **kwargs: Any) -> Any:
        trips.append("round trip")
        return await take(*args, **kwargs)

    redis.connection_pool.get_connection = counted
    return trips


def test_every_reader_of_a_failed_batch_gets_the_redis_error(store: Store) -> None:
    async def work() -> list[BaseException | list[dict[str, int]]]:
        gone = aioredis.Redis(unix_socket_path=str(store.settings.data_dir / "no-such.sock"))
        try:
            return await asyncio.gather(*(read_histories(gone, "down", [f"c{n}"])
                                          for n in range(4)), return_exceptions=True)
        finally:
            await gone.aclose()

    outcomes = asyncio.run(work())
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes), outcomes
