"""Change notes on the real embedded Redis (plugin.store.changes): numbered without a gap, written
with the change they announce, naming customers by digest only, capped in length."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.store import changes, keys
from tests.conftest import Store


def notes_of(store: Store, shop_id: str) -> list[tuple[int, str, str]]:
    entries = store.run(lambda r: r.xrange(keys.changes(shop_id)))
    return [(int(f[b"n"]), f[b"k"].decode(), f[b"i"].decode()) for _id, f in entries]


def test_notes_are_numbered_one_after_the_other(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    before = notes_of(store, shop_id)[-1][0]  # registering the shop noted it

    async def work(redis: Any) -> Any:
        await changes.note(redis, shop_id, (changes.PRODUCT, "p1"), (changes.MODEL, "3"))
        return await changes.note(redis, shop_id, (changes.BLOCKED, ""))

    last = store.run(work)
    assert notes_of(store, shop_id)[-3:] == [
        (before + 1, "product", "p1"), (before + 2, "model", "3"), (before + 3, "blocked", "")]
    assert last == before + 3
    assert int(store.run(lambda r: r.get(keys.changes_sequence(shop_id)))) == before + 3


def test_a_note_queued_in_a_transaction_is_sent_with_the_write(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    before = len(notes_of(store, shop_id))

    async def work(redis: Any) -> int:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.excluded(shop_id), "p9")
            changes.note(pipe, shop_id, (changes.BLOCKED, ""))
            queued = await redis.xlen(keys.changes(shop_id))  # nothing sent yet
            await pipe.execute()
        return int(queued)

    assert store.run(work) == before
    assert len(notes_of(store, shop_id)) == before + 1
    assert notes_of(store, shop_id)[-1][1:] == ("blocked", "")


def test_an_unknown_kind_is_refused_before_anything_is_written(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    before = notes_of(store, shop_id)
    with pytest.raises(ValueError, match="unknown change kind 'price'"):
        store.run(lambda r: changes.note(r, shop_id, (changes.PRODUCT, "p1"), ("price", "p1")))
    assert notes_of(store, shop_id) == before


def test_customers_are_named_by_a_digest_once_each_and_guests_not_at_all() -> None:
    digest = changes.customer_digest("7300000000000000001")
    assert len(digest) == 24 and "7300000000000000001" not in digest
    assert digest == changes.customer_digest("7300000000000000001")
    assert digest != changes.customer_digest("7300000000000000002")
    assert changes.customer_notes(["a", None, "b", "a", ""]) == [
        (changes.CUSTOMER, changes.customer_digest("a")),
        (changes.CUSTOMER, changes.customer_digest("b"))]
    assert changes.customer_notes([None]) == []


def test_the_stream_is_capped_near_its_length_but_the_numbers_go_on(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    many = [(changes.PRODUCT, str(n)) for n in range(keys.CHANGES_MAXLEN + 500)]

    async def work(redis: Any) -> tuple[int, Any]:
        for start in range(0, len(many), 250):
            await changes.note(redis, shop_id, *many[start:start + 250])
        return await redis.xlen(keys.changes(shop_id)), await redis.get(
            keys.changes_sequence(shop_id))

    length, sequence = store.run(work)
    assert keys.CHANGES_MAXLEN <= length < keys.CHANGES_MAXLEN + 500
    assert int(sequence) == len(many) + 1  # + the shop's registration


def numbered(*numbers: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Notes as a stream read answers them, numbered `numbers`."""
    return [(f"{n}-0".encode(), {b"n": str(n).encode(), b"k": b"all"}) for n in numbers]


def test_notes_that_go_on_from_the_last_number_read_are_all_unbroken() -> None:
    assert changes.unbroken(numbered(8, 9, 10), 7) == numbered(8, 9, 10)
    assert changes.unbroken([], 7) == []


def test_unbroken_notes_end_where_a_number_is_missing() -> None:
    assert changes.unbroken(numbered(9, 10), 7) == []  # trimmed past the last note read
    assert changes.unbroken(numbered(1, 2), 7) == []  # the stream began again
    assert changes.unbroken(numbered(8, 9, 11), 7) == numbered(8, 9)
    assert changes.unbroken([(b"8-0", {b"k": b"all"})], 7) == []  # a note without its number
