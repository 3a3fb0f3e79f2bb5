"""The browsing queries (plugin.engine.browsing) on a small model and through serving: recently
viewed in order without never-shown products, inspired by browsing never showing a view,
keys that name the history, and a recently viewed list before the shop's first model."""

from __future__ import annotations

import time
from typing import Any

from plugin.engine import browsing
from plugin.engine.browsing import InspiredByBrowsing, RecentlyViewed
from plugin.engine.serving import serve_query
from plugin.store.browsing import record_browsing
from plugin.store.cache import ShopCache
from plugin.store.catalog import store_products
from plugin.store.exclusions import replace_excluded
from recommender.shop_model import TRENDING
from tests.conftest import Store
from tests.plugin.engine.test_serving import small_model


def test_recently_viewed_is_newest_first_without_blocked_products() -> None:
    query = RecentlyViewed(("p3", "p1", "p7", "p2"), 2)
    answer = query.run(small_model(), {"p1"})
    assert [(r.product_id, r.reason) for r in answer.items] == [
        ("p3", "recently_viewed"), ("p7", "recently_viewed")]
    assert answer.items[0].score > answer.items[1].score > 0
    assert query.kept_out(small_model()) is None  # its own list: no pins
    assert RecentlyViewed((), 4).run(small_model(), set()).items == []


def test_inspired_by_browsing_never_shows_a_view_and_says_which_led_to_it() -> None:
    model = small_model()
    viewed = ("p1", "p5")
    answer = InspiredByBrowsing(viewed, 5).run(model, {"p2"})
    shown = [r.product_id for r in answer.items]
    assert len(shown) == len(set(shown)) == 5
    assert not {"p1", "p5", "p2"} & set(shown)
    led = [r for r in answer.items if r.reason == browsing.BROWSING]
    assert led and all(set(r.because) <= set(viewed) and r.because for r in led)
    assert {r.reason for r in answer.items} <= {browsing.BROWSING, TRENDING}


def test_inspired_by_browsing_is_trending_without_views_or_known_ones() -> None:
    model = small_model()
    trending = [r.product_id for r in model.trending(4, {"p0"}).items]
    assert [r.product_id for r in InspiredByBrowsing((), 4).run(model, {"p0"}).items] \
        == trending
    unknown = InspiredByBrowsing(("never-sold",), 4).run(model, {"p0"})
    assert [r.product_id for r in unknown.items] == trending


def test_only_the_newest_views_inspire_but_every_view_is_left_out() -> None:
    model = small_model()
    old_views = tuple(f"p{n}" for n in range(2, 9))
    viewed = ("p1", *(f"x{n}" for n in range(browsing.INSPIRING)), *old_views)
    shown = {r.product_id for r in InspiredByBrowsing(viewed, 3).run(model, set()).items}
    assert shown <= {"p0"}  # every product of the model but p0 was viewed


def test_keys_name_the_history_so_a_new_view_is_a_new_answer() -> None:
    assert RecentlyViewed(("a",), 4).key != RecentlyViewed(("b", "a"), 4).key
    assert InspiredByBrowsing(("a",), 4).key != InspiredByBrowsing(("b", "a"), 4).key
    assert RecentlyViewed(("a",), 4).key != InspiredByBrowsing(("a",), 4).key
    assert InspiredByBrowsing(("a", "b"), 4).anchors == ("a", "b")


def test_builders_read_the_history_and_keep_catalog_products(store: Store,
                                                            make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> list[Any]:
        cache = ShopCache(redis)
        await store_products(redis, shop_id, [{"product_id": p, "title": p.upper()}
                                              for p in ("a", "b", "c")])
        now = time.time()
        await record_browsing(redis, shop_id, "v1", [("a", now - 4), ("ghost", now - 3),
                                                     ("b", now - 2), ("c", now - 1)], now)
        return [await browsing.recently_viewed(cache, shop_id, "v1", 4),
                await browsing.recently_viewed(cache, shop_id, "v1", 4, leave_out="c"),
                await browsing.inspired_by_browsing(cache, shop_id, "v1", 4),
                await browsing.inspired_by_browsing(cache, shop_id, "v1", 4, viewing="a"),
                await browsing.recently_viewed(cache, shop_id, "nobody", 4)]

    recent, without_page, inspired, on_page, nobody = store.run(work)
    assert recent == RecentlyViewed(("c", "b", "a"), 4)  # "ghost" is in no catalog
    assert without_page.viewed == ("b", "a")
    assert inspired.viewed == ("c", "b", "ghost", "a")
    assert on_page.viewed == ("a", "c", "b", "ghost")
    assert nobody.viewed == ()


def test_recently_viewed_serves_before_the_first_model(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> list[Any]:
        cache = ShopCache(redis)
        await store_products(redis, shop_id, [
            {"product_id": "a", "title": "A", "price": "2.50",
             "url": "https://shop.example.com/a"}, {"product_id": "b", "title": "B"}])
        await replace_excluded(redis, shop_id, ["b"])
        recent = await serve_query(cache, shop_id, "EUR", RecentlyViewed(("b", "a"), 4))
        inspired = await serve_query(cache, shop_id, "EUR", InspiredByBrowsing(("a",), 4))
        return [recent, inspired]

    recent, inspired = store.run(work)
    assert recent.model_version is None and recent.strategy == "recently_viewed"
    assert recent.items == [{"product_id": "a", "score": 1.0, "reason": "recently_viewed",
                             "title": "A", "price": "2.50", "currency": "EUR",
                             "url": "https://shop.example.com/a", "image_url": None}]
    assert (inspired.strategy, inspired.items) == ("none", [])
