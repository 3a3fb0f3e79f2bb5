"""Widget tracking on the real embedded Redis (plugin.store.tracking): counters per placement, kind
and UTC day, each event counted once, and the clicks kept for attribution, of a customer and of
the visitors linked to them."""

from __future__ import annotations

from typing import Any

from plugin.store import keys
from plugin.store.browsing import browsed, record_browsing
from plugin.store.tracking import (
    MAX_CLICKS_KEPT,
    MAX_VISITORS_PER_CUSTOMER,
    Click,
    WidgetEvent,
    clicks_held,
    clicks_of_customer,
    clicks_of_customers,
    counter_field,
    day_of,
    erase_customer_tracking,
    link_visitor,
    linked_visitors,
    record_click,
    record_events,
)
from tests.conftest import Store

T0 = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
DAY = 86_400.0


def event(event_id: str, kind: str = "click", placement: str = "bundle", product: str = "p1",
          at: float = T0) -> WidgetEvent:
    return WidgetEvent(event_id, kind, placement, product, at)


def counts(store: Store, shop_id: str, at: float = T0) -> dict[str, int]:
    raw = store.run(lambda r: r.hgetall(keys.widget_counts(shop_id, day_of(at))))
    return {k.decode(): int(v) for k, v in raw.items()}


def test_days_are_utc_and_fields_name_placement_and_kind() -> None:
    assert day_of(T0) == "2025-06-15"
    assert day_of(1_750_031_999.0) == "2025-06-15" and day_of(1_750_032_000.0) == "2025-06-16"
    assert counter_field("cart", "add_to_cart") == "cart:add_to_cart"


def test_events_are_counted_once_per_placement_kind_and_day(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    batch = [event("e1", "impression"), event("e2", "impression", "cart"), event("e3", "click"),
             event("e4", "add_to_cart"), event("e5", "impression", at=T0 + DAY)]

    async def work(redis: Any) -> tuple[int, int, int]:
        first = await record_events(redis, shop_id, "v1", None, batch)
        again = await record_events(redis, shop_id, "v1", None, [*batch[:3], event("e6")])
        return first, again, await redis.ttl(keys.widget_counts(shop_id, day_of(T0)))

    first, again, ttl = store.run(work)
    assert (first, again) == (5, 1)  # a resent beacon counts once
    assert counts(store, shop_id) == {"bundle:impression": 1, "cart:impression": 1,
                                      "bundle:click": 2, "bundle:add_to_cart": 1}
    assert counts(store, shop_id, T0 + DAY) == {"bundle:impression": 1}
    assert keys.WIDGET_COUNTS_TTL_SECONDS - 60 < ttl <= keys.WIDGET_COUNTS_TTL_SECONDS


def test_event_ids_are_counted_once_per_shop_not_across_shops(
        store: Store, make_shop: Any) -> None:
    one, other = make_shop().shop.shop_id, make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[int, int]:
        return (await record_events(redis, one, "v", None, [event("same")]),
                await record_events(redis, other, "v", None, [event("same")]))

    assert store.run(work) == (1, 1)


def test_clicks_are_kept_for_the_customer_and_the_visitor_impressions_are_not(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[Any, ...]:
        await record_events(redis, shop_id, "v1", "c1", [
            event("i1", "impression"), event("c1", "click", "cart", "p7", T0 + 5),
            event("a1", "add_to_cart", "cart", "p7", T0 + 6)])
        return (await clicks_of_customer(redis, shop_id, "c1", T0 - DAY, T0 + DAY),
                await redis.zcard(keys.widget_clicks_visitor(shop_id, "v1")),
                await redis.zcard(keys.widget_clicks_customer(shop_id, "c1")))

    clicks, by_visitor, by_customer = store.run(work)
    # the customer's own click, and the same click again through the visitor linked to them
    assert clicks == [Click("cart", "p7", T0 + 5)] * 2
    assert (by_visitor, by_customer) == (1, 1)


def test_a_visitors_earlier_clicks_count_for_the_customer_they_turn_out_to_be(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[list[Click], list[Click]]:
        await record_events(redis, shop_id, "anon", None, [event("x1", product="p2", at=T0)])
        before = await clicks_of_customer(redis, shop_id, "c9", 0, T0 + DAY)
        await record_events(redis, shop_id, "anon", "c9", [event("x2", "impression")])
        return before, await clicks_of_customer(redis, shop_id, "c9", 0, T0 + DAY)

    before, after = store.run(work)
    assert before == [] and after == [Click("bundle", "p2", T0)]


def test_clicks_are_read_within_each_window_for_many_customers_at_once(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> list[list[Click]]:
        for n, at in enumerate((T0, T0 + 10, T0 + 20)):
            await record_click(redis, shop_id, placement="home", product_id=f"p{n}",
                               customer_id="c1", visitor_id=None, at=at)
        return await clicks_of_customers(redis, shop_id, [
            ("c1", T0 + 5, T0 + 20), ("nobody", 0, T0 + 99), ("c1", 0, T0), ("c1", T0 + 21, 1e10)])

    assert store.run(work) == [[Click("home", "p1", T0 + 10), Click("home", "p2", T0 + 20)],
                               [], [Click("home", "p0", T0)], []]


def test_a_click_recorded_directly_is_counted_and_links_the_visitor(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[Any, ...]:
        for _ in range(2):  # callers that deduplicate themselves: each call is a click
            await record_click(redis, shop_id, placement="email", product_id="p1",
                               customer_id="c1", visitor_id="v1", at=T0)
        return (await redis.smembers(keys.widget_customer_visitors(shop_id, "c1")),
                await redis.zcard(keys.widget_clicks_customer(shop_id, "c1")))

    members, kept = store.run(work)
    assert counts(store, shop_id) == {"email:click": 2}
    assert members == {b"v1"} and kept == 2


def test_only_the_newest_clicks_within_the_window_are_kept(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    old = T0 - keys.WIDGET_CLICKS_TTL_SECONDS - 1
    many = [event(f"m{n}", at=T0 + n) for n in range(MAX_CLICKS_KEPT + 10)]

    async def work(redis: Any) -> tuple[int, list[Click], float]:
        await record_events(redis, shop_id, "v1", "c1", [event("old", product="gone", at=old)])
        await record_events(redis, shop_id, "v1", "c1", many)
        kept = await clicks_of_customer(redis, shop_id, "c1", 0, 1e10)
        return (await redis.zcard(keys.widget_clicks_customer(shop_id, "c1")), kept,
                await redis.ttl(keys.widget_clicks_customer(shop_id, "c1")))

    size, kept, ttl = store.run(work)
    assert size == MAX_CLICKS_KEPT
    assert min(click.at for click in kept) == T0 + 10  # the oldest went first
    assert "gone" not in {click.product_id for click in kept}
    assert keys.WIDGET_CLICKS_TTL_SECONDS - 60 < ttl <= keys.WIDGET_CLICKS_TTL_SECONDS


def test_a_customer_links_at_most_so_many_visitors(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    link = keys.widget_customer_visitors(shop_id, "c1")

    async def work(redis: Any) -> tuple[int, bool, bool]:
        await redis.sadd(link, *(f"v{n}" for n in range(MAX_VISITORS_PER_CUSTOMER)))
        await record_events(redis, shop_id, "v-new", "c1", [event("n1")])
        await record_events(redis, shop_id, "v0", "c1", [event("n2")])  # already linked
        return (await redis.scard(link), bool(await redis.sismember(link, "v-new")),
                await redis.ttl(link) > 0)

    assert store.run(work) == (MAX_VISITORS_PER_CUSTOMER, False, True)


def test_erasing_a_customers_tracking_removes_their_visitors_clicks_too(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[int, list[Click], list[Click], int]:
        await record_events(redis, shop_id, "v1", "c1", [event("e1")])
        await record_events(redis, shop_id, "v2", "c1", [event("e2", product="p2")])
        await record_events(redis, shop_id, "v3", "c2", [event("e3", product="p3")])
        deleted = await erase_customer_tracking(redis, shop_id, "c1")
        return (deleted, await clicks_of_customer(redis, shop_id, "c1", 0, 1e10),
                await clicks_of_customer(redis, shop_id, "c2", 0, 1e10),
                await erase_customer_tracking(redis, shop_id, "c1"))

    deleted, gone, kept, again = store.run(work)
    assert deleted == 4  # their clicks, their links, the clicks of v1 and v2
    assert gone == [] and again == 0
    assert [c.product_id for c in kept] == ["p3", "p3"]  # another customer's stay


def test_erasing_a_customer_removes_their_linked_visitors_browsing(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
        await record_browsing(redis, shop_id, "v1", [("p1", T0)], T0)
        await record_browsing(redis, shop_id, "v2", [("p2", T0)], T0)
        await link_visitor(redis, shop_id, "v1", "c1")
        deleted = await erase_customer_tracking(redis, shop_id, "c1")
        return (deleted, await browsed(redis, shop_id, "v1", T0),
                await browsed(redis, shop_id, "v2", T0))

    assert store.run(work) == (2, (), ("p2",))  # the link and v1's history; v2 is not theirs


def test_an_export_reads_the_linked_visitors_and_every_click_kept(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[Any, ...]:
        await record_click(redis, shop_id, placement="email", product_id="p1",
                           customer_id="c1", visitor_id=None, at=T0 - 3 * DAY)
        await record_events(redis, shop_id, "v2", "c1", [event("e2", product="p2", at=T0)])
        await link_visitor(redis, shop_id, "v1", "c1")
        await record_events(redis, shop_id, "v3", "c2", [event("e3", product="p3")])
        visitors = await linked_visitors(redis, shop_id, "c1")
        return (visitors, await clicks_held(redis, shop_id, "c1", visitors),
                await linked_visitors(redis, shop_id, "nobody"))

    visitors, clicks, nobody = store.run(work)
    assert visitors == ["v1", "v2"] and nobody == []
    assert clicks == [(None, Click("email", "p1", T0 - 3 * DAY)),  # theirs first
                      (None, Click("bundle", "p2", T0)), ("v2", Click("bundle", "p2", T0))]
