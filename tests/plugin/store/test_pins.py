"""The owner's pinned products on the real embedded Redis (plugin.store.pins): the list replaced
whole with its change note, its rules, the end dates an owner may send; and the process's
cache (plugin.store.cache) holding them, dropping them on a note, and leaving a pin out at its
end with every answer kept before, with no note at all."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

import pytest
import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.cache import ShopCache
from plugin.store.erasure import erase_shop
from plugin.store.pins import (
    MAX_PINS,
    Pin,
    hold,
    iso,
    new_pin,
    parse_until,
    pins,
    replace_pins,
    shown_for,
)
from tests.conftest import Store

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def pin(product: str, where: str | None = None, until: float | None = None) -> Pin:
    return Pin(product, where, until, NOW)


def last_note(redis: aioredis.Redis, shop_id: str) -> Any:
    return redis.xrevrange(keys.changes(shop_id), count=1)


def test_the_list_is_replaced_whole_in_the_owners_order(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    first = [pin("p3"), pin("p1", "p9", NOW + 60), pin("p2")]

    async def work(redis: aioredis.Redis) -> tuple[list[Pin], list[Pin], list[Pin], int]:
        await replace_pins(redis, shop_id, first)
        read_first = await pins(redis, shop_id)
        await replace_pins(redis, shop_id, [pin("p2", "p1")])
        read_second = await pins(redis, shop_id)
        await replace_pins(redis, shop_id, [])
        return read_first, read_second, await pins(redis, shop_id), \
            await redis.exists(keys.pins(shop_id))

    assert store.run(work) == (first, [pin("p2", "p1")], [], 0)


def test_every_replacement_notes_the_change(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> list[bytes]:
        await replace_pins(redis, shop_id, [pin("p1")])
        await replace_pins(redis, shop_id, [])
        notes = await redis.xrevrange(keys.changes(shop_id), count=2)
        return [fields[b"k"] for _id, fields in notes]

    assert store.run(work) == [b"pins", b"pins"]
    assert changes.PINS in changes.KINDS


@pytest.mark.parametrize("bad, reason", [
    ([pin(f"p{n}") for n in range(MAX_PINS + 1)], f"at most {MAX_PINS}"),
    ([pin("p1", "p1")], "pinned to itself"),
    ([pin("p1"), pin("p2"), pin("p1")], "pinned everywhere twice"),
    ([pin("p1", "p2"), pin("p1", "p2")], "for product 'p2' twice"),
    ([pin("")], "product_id is missing"),
    ([pin("x" * 200)], "printable characters"),
    ([pin("p1", None, float("inf"))], "finite"),
], ids=["too-many", "itself", "twice", "twice-for", "empty-id", "long-id", "infinite"])
def test_a_list_that_breaks_a_rule_is_refused_and_nothing_stored(
        store: Store, make_shop: Any, bad: list[Pin], reason: str) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[list[Pin], int]:
        await replace_pins(redis, shop_id, [pin("kept")])
        before = await redis.xlen(keys.changes(shop_id))
        with pytest.raises(ValueError, match=reason):
            await replace_pins(redis, shop_id, bad)
        return await pins(redis, shop_id), await redis.xlen(keys.changes(shop_id)) - before

    assert store.run(work) == ([pin("kept")], 0)


def test_the_same_product_may_be_pinned_in_several_places(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    several = [pin("p1"), pin("p1", "p2"), pin("p1", "p3"), pin("p2", "p3")]
    store.run(lambda r: replace_pins(r, shop_id, several))
    assert store.run(lambda r: pins(r, shop_id)) == several
    bound = [pin(f"p{n}") for n in range(MAX_PINS)]  # the bound itself is kept
    store.run(lambda r: replace_pins(r, shop_id, bound))
    assert store.run(lambda r: pins(r, shop_id)) == bound and MAX_PINS == 100


def test_it_is_json_and_an_entry_written_by_hand_that_is_no_pin_is_left_out(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    store.run(lambda r: replace_pins(r, shop_id, [pin("p1", "p2", NOW + 1)]))
    raw = store.run(lambda r: r.get(keys.pins(shop_id)))
    assert json.loads(raw) == [{"product_id": "p1", "for_product_id": "p2",
                                "until": NOW + 1, "created_at": NOW}]
    hand = [{"product_id": "ok"}, {"product_id": 5}, "p3", {"product_id": "p4", "until": "x"},
            {"product_id": "p5", "for_product_id": 7}, {"product_id": "p6", "until": True}]
    store.run(lambda r: r.set(keys.pins(shop_id), json.dumps(hand)))
    assert store.run(lambda r: pins(r, shop_id)) == [Pin("ok", None, None, 0.0)]
    store.run(lambda r: r.set(keys.pins(shop_id), "not json"))
    assert store.run(lambda r: pins(r, shop_id)) == []


def test_the_key_is_the_shops_and_goes_with_the_shop(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    assert keys.pins(shop_id).startswith(f"shopreco:{{{shop_id}}}:")
    assert fnmatchcase(keys.pins(shop_id), keys.shop_pattern(shop_id))
    assert not fnmatchcase(keys.pins(shop_id), keys.shop_pattern("other"))
    store.run(lambda r: replace_pins(r, shop_id, [pin("p1")]))
    store.run(lambda r: erase_shop(r, shop_id))
    assert store.run(lambda r: r.exists(keys.pins(shop_id))) == 0


# ---- what an owner sends ---------------------------------------------------------------------


def test_an_end_is_a_time_with_a_zone_or_the_end_of_a_day_utc() -> None:
    assert parse_until(None, NOW) is None and parse_until("", NOW) is None
    assert parse_until("2027-12-24", NOW) == datetime(2027, 12, 25, tzinfo=UTC).timestamp()
    assert parse_until("2027-12-24T10:00:00Z", NOW) == \
        datetime(2027, 12, 24, 10, tzinfo=UTC).timestamp()
    assert parse_until("2027-12-24T10:00:00+02:00", NOW) == \
        datetime(2027, 12, 24, 8, tzinfo=UTC).timestamp()
    assert iso(datetime(2027, 12, 25, tzinfo=UTC).timestamp()) == "2027-12-25T00:00:00Z"
    today = datetime.fromtimestamp(NOW, UTC).date().isoformat()
    assert parse_until(today, NOW) == datetime(2027, 1, 16, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("raw, reason", [
    ("2027-12-24T10:00:00", "time zone"),  # no zone: whose 10 o'clock?
    ("24.12.2027", "ISO 8601"),
    ("2027-02-30", "ISO 8601"),
    ("tomorrow", "ISO 8601"),
    (1_900_000_000, "ISO 8601"),
    (["2027-12-24"], "ISO 8601"),
    ("2027-01-14", "in the future"),  # the day before NOW's
    ("2027-01-15T07:59:59Z", "in the future"),
    ("2150-01-01", "before 2100"),
    ("2027-12-24" + " " * 50, "ISO 8601"),
])
def test_an_end_that_is_no_future_time_is_refused_with_why(raw: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_until(raw, NOW)


def test_a_new_pin_keeps_the_creation_time_of_the_same_place() -> None:
    stored = [Pin("p1", None, None, 100.0), Pin("p1", "p2", None, 200.0)]
    assert new_pin("p1", "", "2027-12-24", NOW, stored).created_at == 100.0
    assert new_pin("p1", "p2", None, NOW, stored).created_at == 200.0
    assert new_pin("p1", "p3", None, NOW, stored) == Pin("p1", "p3", None, NOW)
    assert new_pin(7300000000000000001, None, None, NOW).product_id == "7300000000000000001"
    with pytest.raises(ValueError, match="product_id is missing"):
        new_pin("", None, None, NOW)


def test_pins_for_the_anchors_come_first_in_their_order_then_everywhere() -> None:
    held = [pin("e1"), pin("a1", "A"), pin("b1", "B"), pin("a2", "A"), pin("e2"),
            pin("c1", "C")]
    assert [p.product_id for p in shown_for(held, ("B", "A", "B"))] == \
        ["b1", "a1", "a2", "e1", "e2"]
    assert [p.product_id for p in shown_for(held, ())] == ["e1", "e2"]


def test_held_pins_leave_out_the_ended_and_know_the_next_end() -> None:
    held = hold([pin("old", None, NOW - 1), pin("soon", None, NOW + 5),
                 pin("later", "x", NOW + 50), pin("always")], now=NOW)
    assert [p.product_id for p in held.active] == ["soon", "later", "always"]
    assert held.ends_at == NOW + 5 and not held.ended(NOW + 4.9) and held.ended(NOW + 5)
    assert hold([pin("always")], now=NOW).ends_at == float("inf")


# ---- the process's cache ---------------------------------------------------------------------


def test_the_cache_holds_the_pins_and_drops_them_on_a_note(store: Store, shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> None:
        cache = ShopCache(redis)
        future = time.time() + 3600
        await replace_pins(redis, shop_id, [pin("p1"), pin("gone", None, time.time() - 1),
                                            pin("p2", "p9", future)])
        held = await cache.pins(shop_id)
        assert [p.product_id for p in held] == ["p1", "p2"]
        epoch = cache.epoch(shop_id)
        cache.keep_answer(shop_id, "k", None, "answer", epoch)
        assert cache.answer(shop_id, "k") == "answer"

        await redis.set(keys.pins(shop_id), "[]")  # unannounced: still held ...
        assert await cache.pins(shop_id) == held
        await replace_pins(redis, shop_id, [pin("p3")])  # ... until a note says so
        await cache.refresh()
        assert cache.answer(shop_id, "k") is None
        assert [p.product_id for p in await cache.pins(shop_id)] == ["p3"]

        cache.changed(shop_id, (changes.PINS, ""))  # this process's own write: at once
        await redis.delete(keys.pins(shop_id))
        assert await cache.pins(shop_id) == ()

    store.run(work)


def test_at_a_pins_end_it_is_left_out_and_kept_answers_dropped_without_a_note(
        store: Store, shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> None:
        cache = ShopCache(redis)
        end = time.time() + 0.8
        await replace_pins(redis, shop_id, [pin("short", None, end), pin("long", None, end + 60),
                                            pin("always")])
        assert [p.product_id for p in await cache.pins(shop_id)] == ["short", "long", "always"]
        cache.keep_answer(shop_id, "k", None, "with short", cache.epoch(shop_id))
        late = cache.epoch(shop_id)  # an answer begun before the end, kept after it
        notes = await redis.xlen(keys.changes(shop_id))
        assert cache.answer(shop_id, "k") == "with short"

        await asyncio.sleep(max(0.0, end - time.time()) + 0.05)
        assert cache.answer(shop_id, "k") is None
        cache.keep_answer(shop_id, "late", None, "with short", late)
        assert cache.answer(shop_id, "late") is None
        assert [p.product_id for p in await cache.pins(shop_id)] == ["long", "always"]
        cache.keep_answer(shop_id, "k", None, "without short", cache.epoch(shop_id))
        assert cache.answer(shop_id, "k") == "without short"  # kept again until the next end
        assert await redis.xlen(keys.changes(shop_id)) == notes  # no note was written
        assert [p.product_id for p in await pins(redis, shop_id)] == ["short", "long", "always"]

    store.run(work)


def test_an_answer_begun_before_an_end_is_not_kept_after_it(store: Store, shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> None:
        cache = ShopCache(redis)
        end = time.time() + 0.5
        await replace_pins(redis, shop_id, [pin("short", None, end)])
        assert len(await cache.pins(shop_id)) == 1
        epoch = cache.epoch(shop_id)
        await asyncio.sleep(max(0.0, end - time.time()) + 0.05)
        cache.keep_answer(shop_id, "k", None, "with short", epoch)  # no answer() in between
        assert cache.answer(shop_id, "k") is None
        assert await cache.pins(shop_id) == ()

    store.run(work)
