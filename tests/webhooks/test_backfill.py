"""run_backfill (webhooks/backfill.py) on the embedded Redis with a page source of the test's
own: every page stored, a checkpoint after each, a rerun resuming after the last stored page,
--restart starting over. (Each platform's own pages: test_shopify.py, test_ecwid.py,
test_bigcommerce.py, test_woocommerce.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugin.store import keys
from plugin.store.order import LineItem, Order
from plugin.store.records import get_order
from plugin.store.shops import NewShop, Shop
from tests.conftest import Store
from webhooks.backfill import BackfillResult, Page, run_backfill
from webhooks.http import PlatformHttp


def order(order_id: str, updated_at: float = 1.0) -> Order:
    line = LineItem("p1", None, "P", 1, "5.00", line_id=f"{order_id}-l")
    return Order(order_id, "c1", 1.0, updated_at, False, "EUR", "5.00", (line,))


PAGES = {  # cursor a page starts after -> (its orders, its products, the next page's cursor)
    None: (["o1", "o2"], [], "after-2"),
    "after-2": (["o3"], [], "after-3"),
    "after-3": ([], [{"product_id": "p1", "title": "Mug", "url": "/products/mug"}], None),
}


class History:
    """A page source over PAGES that records where each run started and fails, when told, on
    the page after a given cursor."""

    def __init__(self, fail_after: str | None = None) -> None:
        self.fail_after = fail_after
        self.started: list[str | None] = []

    async def __call__(self, http: PlatformHttp, shop: Shop,
                       cursor: str | None) -> AsyncIterator[Page]:
        self.started.append(cursor)
        while True:
            if cursor is not None and cursor == self.fail_after:
                raise ConnectionError(f"the platform went away after {cursor}")
            order_ids, products, after = PAGES[cursor]
            yield Page([order(o) for o in order_ids], after, products, total=3)
            if after is None:
                return
            cursor = after


def backfill(store: Store, shop: NewShop, source: History, restart: bool = False,
             pages: list[Page] | None = None) -> BackfillResult:
    async def work(redis: Any) -> BackfillResult:
        http = PlatformHttp()
        try:
            return await run_backfill(redis, http, shop.shop, source, restart,
                                      on_page=None if pages is None else pages.append)
        finally:
            await http.aclose()

    return store.run(work)


def checkpoint(store: Store, shop: NewShop) -> bytes | None:
    return store.run(lambda r: r.get(keys.backfill_cursor(shop.shop.shop_id)))


def stored(store: Store, shop: NewShop) -> set[str]:
    return {k.decode() for k in store.run(lambda r: r.hkeys(keys.orders(shop.shop.shop_id)))}


def test_every_page_is_stored_and_counted(store, shop) -> None:
    before = time.time()
    seen: list[Page] = []
    result = backfill(store, shop, History(), pages=seen)
    assert (result.pages, result.orders_seen, result.orders_changed, result.products) == (
        3, 3, 3, 1)
    assert result.resumed_from is None and [p.cursor for p in seen] == [
        "after-2", "after-3", None]
    assert stored(store, shop) == {"o1", "o2", "o3"}
    entry = store.run(lambda r: r.hget(keys.products(shop.shop.shop_id), "p1"))
    assert json.loads(entry)["url"] == f"{shop.shop.storefront_url}/products/mug"
    stats = store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "backfilled_at"))
    assert int(stats) >= int(before)
    assert checkpoint(store, shop) is None  # done: the next run starts from the beginning


def test_a_second_run_changes_no_stored_order(store, shop) -> None:
    backfill(store, shop, History())
    again = backfill(store, shop, History())
    assert (again.orders_seen, again.orders_changed) == (3, 0)
    assert store.run(lambda r: get_order(r, shop.shop.shop_id, "o1")) == order("o1")


def test_a_failed_run_keeps_the_checkpoint_of_the_last_stored_page(store, shop) -> None:
    with pytest.raises(ConnectionError):
        backfill(store, shop, History(fail_after="after-2"))
    assert stored(store, shop) == {"o1", "o2"}
    assert checkpoint(store, shop) == b"after-2"


def test_the_next_run_resumes_after_the_last_stored_page(store, shop) -> None:
    with pytest.raises(ConnectionError):
        backfill(store, shop, History(fail_after="after-3"))
    rerun = History()
    result = backfill(store, shop, rerun)
    assert rerun.started == ["after-3"] and result.resumed_from == "after-3"
    assert (result.pages, result.orders_seen, result.products) == (1, 0, 1)
    assert stored(store, shop) == {"o1", "o2", "o3"} and checkpoint(store, shop) is None


def test_restart_ignores_the_checkpoint(store, shop) -> None:
    with pytest.raises(ConnectionError):
        backfill(store, shop, History(fail_after="after-2"))
    rerun = History()
    result = backfill(store, shop, rerun, restart=True)
    assert rerun.started == [None] and result.resumed_from is None
    assert result.pages == 3 and checkpoint(store, shop) is None
