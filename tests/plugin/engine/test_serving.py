"""Serving: merchandising filters (unavailable and owner-excluded products are never shown, and
answers are still filled to the limit) and display fields (only http(s) URLs leave the API)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from plugin.store import changes, keys
from plugin.store.shops import NewShop
from recommender.matrix import Purchase
from recommender.shop_model import ShopModel
from tests.conftest import Store
from tests.helpers import (
    auth,
    body_of,
    eventually,
    order_payload,
    send_orders,
    shopify_headers,
    train,
)
from tests.plugin.store.test_urls import BAD_URLS, GOOD_URLS


def bought_together(http: httpx.Client, shop: NewShop, product_id: str) -> list[str]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/products/"
                        f"{product_id}", params={"limit": 4}, headers=auth(shop))
    return [item["product_id"] for item in response.json()["items"]]


def send_product(http: httpx.Client, shop: NewShop, payload: dict, topic: str) -> None:
    body = body_of(payload)
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body,
                              topic=topic)
    assert http.post("/webhooks/shopify", content=body, headers=headers).status_code == 200


def drain(http: httpx.Client, shop: NewShop) -> None:
    assert train(http, shop).status_code == 200  # drains accepted events first


def test_out_of_stock_product_is_never_shown(http, paired_shop) -> None:
    assert bought_together(http, paired_shop, "101")[0] == "102"
    send_product(http, paired_shop, {"id": 102, "title": "Sold out", "status": "active",
                                     "variants": [{"price": "1.00", "inventory_quantity": 0}]},
                 "products/update")
    drain(http, paired_shop)
    shown = bought_together(http, paired_shop, "101")
    assert "102" not in shown and len(shown) == 4


def test_deleted_product_is_never_shown(http, paired_shop) -> None:
    send_product(http, paired_shop, {"id": 102}, "products/delete")
    drain(http, paired_shop)
    assert "102" not in bought_together(http, paired_shop, "101")


def test_product_back_in_stock_is_shown_again(http, paired_shop) -> None:
    sold_out = {"id": 102, "title": "P", "status": "active",
                "variants": [{"price": "1.00", "inventory_quantity": 0}]}
    send_product(http, paired_shop, sold_out, "products/update")
    drain(http, paired_shop)
    restocked = {**sold_out, "variants": [{"price": "1.00", "inventory_quantity": 5}]}
    send_product(http, paired_shop, restocked, "products/update")
    drain(http, paired_shop)
    assert bought_together(http, paired_shop, "101")[0] == "102"


def test_owner_exclusions_are_never_shown_anywhere(http, paired_shop) -> None:
    url = f"/api/v1/shops/{paired_shop.shop.shop_id}/exclusions"
    put = http.put(url, json={"product_ids": ["102", "104"]}, headers=auth(paired_shop))
    assert put.json()["product_ids"] == ["102", "104"]
    assert http.get(url, headers=auth(paired_shop)).json()["product_ids"] == ["102", "104"]
    assert not {"102", "104"} & set(bought_together(http, paired_shop, "101"))
    widget = http.get("/widgets/v1/recommendations", params={
        "key": paired_shop.shop.widget_key, "placement": "trending", "limit": 8})
    assert not {"102", "104"} & {i["product_id"] for i in widget.json()["items"]}
    http.put(url, json={"product_ids": []}, headers=auth(paired_shop))
    assert bought_together(http, paired_shop, "101")[0] == "102"


def test_exclusions_need_the_shops_api_key(http, paired_shop, make_shop) -> None:
    other = make_shop()
    response = http.put(f"/api/v1/shops/{paired_shop.shop.shop_id}/exclusions",
                        json={"product_ids": ["1"]}, headers=auth(other))
    assert response.status_code == 403


@pytest.mark.parametrize("body", [b"{}", b'{"product_ids": "102"}', b"nope"])
def test_bad_exclusion_body_is_400(http, paired_shop, body) -> None:
    response = http.put(f"/api/v1/shops/{paired_shop.shop.shop_id}/exclusions", content=body,
                        headers=auth(paired_shop))
    assert response.status_code == 400


def small_model() -> ShopModel:
    purchases = [Purchase(f"o{n}", f"c{n % 7}", f"p{i}", 1, 1e9 + n)
                 for n in range(60) for i in (n % 9, (n + 1) % 9)]
    return ShopModel.train(purchases)


@pytest.mark.parametrize(("query", "never"), [
    (lambda m, b: m.bought_together("p1", 5, b), {"p1"}),
    (lambda m, b: m.similar("p1", 5, b), {"p1"}),
    (lambda m, b: m.for_customer("c1", 5, False, b), set()),
    (lambda m, b: m.for_customer("c1", 5, True, b), None),
    (lambda m, b: m.for_cart(["p1"], None, 5, b), {"p1"}),
    (lambda m, b: m.trending(5, b), set()),
], ids=["bought_together", "similar", "customer", "customer-new-only", "cart", "trending"])
def test_every_query_skips_blocked_products_and_still_fills(query, never) -> None:
    model = small_model()
    if never is None:  # exclude_purchased: what c1 bought is never shown either
        never = model.purchased_by("c1")
    blocked = {"p2", "p0", "p3"}
    shown = [r.product_id for r in query(model, blocked).items]
    assert not (blocked | never) & set(shown)
    assert len(shown) == len(set(shown)) == min(5, 9 - len(blocked | never))


# ---- only http(s) URLs leave the API ----------------------------------------------------------

URL_PRODUCTS = [str(301 + n) for n in range(12)]
URL_FORMS: list[object] = [*BAD_URLS.values(), *GOOD_URLS.values()]


@pytest.fixture
def url_shop(http: httpx.Client, shop: NewShop) -> NewShop:
    return fill_url_shop(http, shop)


def fill_url_shop(http: httpx.Client, shop: NewShop) -> NewShop:
    """Twelve products 301..312 bought in pairs round a ring, so each query shows all twelve."""
    count = len(URL_PRODUCTS)
    send_orders(http, shop, [order_payload(3000 + n, n, [301 + n % count, 301 + (n + 1) % count])
                             for n in range(2 * count)])
    assert train(http, shop).status_code == 200
    return shop


def url_batches() -> list[dict[str, tuple[object, object]]]:
    """Every URL form as a url and as an image_url: {product_id: (url, image_url)} per batch of
    twelve products, the last batch filled up from the first forms again; image_url is the url
    of the next product, so the two fields differ."""
    size = len(URL_PRODUCTS)
    slots = -(-len(URL_FORMS) // size) * size
    forms = [URL_FORMS[n % len(URL_FORMS)] for n in range(slots + 1)]
    return [{product_id: (forms[start + n], forms[start + n + 1])
             for n, product_id in enumerate(URL_PRODUCTS)} for start in range(0, slots, size)]


def store_raw_catalog(store: Store, shop: NewShop, batch: dict[str, tuple[object, object]]) -> None:
    """Catalog entries written as they are, past the intake rules, as an older version (or a
    platform) may have left them."""
    entries = {product_id: json.dumps({
        "product_id": product_id, "title": f"P{product_id}", "price": "5.00", "url": url,
        "image_url": image_url, "available": True})
        for product_id, (url, image_url) in batch.items()}
    shop_id = shop.shop.shop_id

    async def write(redis: Any) -> None:
        await redis.hset(keys.products(shop_id), mapping=entries)
        await changes.note(redis, shop_id, *((changes.PRODUCT, p) for p in batch))

    store.run(write)


def expected_urls(batch: dict[str, tuple[object, object]]) -> dict[str, tuple[object, object]]:
    """What the API must answer: a good URL unchanged, anything else null."""
    good = list(GOOD_URLS.values())
    return {product_id: tuple(v if v in good else None for v in urls)
            for product_id, urls in batch.items()}


def served_urls(items: list[dict[str, Any]]) -> dict[str, tuple[object, object]]:
    return {item["product_id"]: (item["url"], item["image_url"]) for item in items}


def test_url_batches_cover_every_form() -> None:
    batches = url_batches()
    assert all(len(batch) == len(URL_PRODUCTS) for batch in batches)
    for field in (0, 1):  # url, image_url
        served = [urls[field] for batch in batches for urls in batch.values()]
        assert all(form in served for form in URL_FORMS)


def test_api_items_carry_only_http_urls(http, store, url_shop) -> None:
    for batch in url_batches():
        store_raw_catalog(store, url_shop, batch)

        def served(batch: dict[str, tuple[object, object]] = batch) -> None:
            response = http.get(
                f"/api/v1/shops/{url_shop.shop.shop_id}/recommendations/trending",
                params={"limit": len(URL_PRODUCTS)}, headers=auth(url_shop))
            assert response.status_code == 200, response.text
            assert served_urls(response.json()["items"]) == expected_urls(batch)

        eventually(served)


def test_widget_items_carry_only_http_urls(http, store, url_shop) -> None:
    for batch in url_batches():
        store_raw_catalog(store, url_shop, batch)

        def served(batch: dict[str, tuple[object, object]] = batch) -> None:
            response = http.get("/widgets/v1/recommendations", params={
                "key": url_shop.shop.widget_key, "placement": "trending",
                "limit": len(URL_PRODUCTS)})
            assert response.status_code == 200, response.text
            assert served_urls(response.json()["items"]) == expected_urls(batch)

        eventually(served)


def test_a_feed_page_keeps_each_customers_answer_as_the_api_does(store, paired_shop) -> None:
    """serve_many answers what serve_query answers, keeps each answer under the query's key,
    and a later page reuses them; a customer's new order drops only that customer's."""
    from plugin.engine import queries
    from plugin.engine.serving import serve_many, serve_query
    from plugin.store.cache import ShopCache

    shop_id = paired_shop.shop.shop_id

    async def work(redis: Any) -> tuple[Any, ...]:
        cache = ShopCache(redis)
        await cache.model(shop_id)  # loading a model drops what was kept: load it first
        asked = [await queries.personal(cache, shop_id, str(n), 4) for n in range(6)]
        version, first = await serve_many(cache, shop_id, "EUR", asked)
        kept = [cache.answer(shop_id, q.key) for q in asked]
        _, again = await serve_many(cache, shop_id, "EUR", asked)
        one = await serve_query(cache, shop_id, "EUR", asked[2])
        cache.changed(shop_id, (changes.CUSTOMER, changes.customer_digest("3")))
        dropped = [cache.answer(shop_id, q.key) is None for q in asked]
        _, after = await serve_many(cache, shop_id, "EUR", asked)
        return version, first, kept, again, one, dropped, after

    version, first, kept, again, one, dropped, after = store.run(work)
    assert version is not None and all(items for items in first)
    assert [k.items for k in kept] == first and again == first  # kept, then reused
    assert one.items == first[2] and one.model_version == version  # the API's answer
    assert dropped == [False, False, False, True, False, False]
    assert after == first  # recomputed for customer 3 from the same history: the same


def test_an_empty_feed_page_still_names_the_model(store, paired_shop) -> None:
    from plugin.engine.serving import serve_many
    from plugin.store.cache import ShopCache

    shop_id = paired_shop.shop.shop_id
    version, items = store.run(lambda r: serve_many(ShopCache(r), shop_id, "EUR", []))
    assert version is not None and items == []


# ---- a burst of first calls is run together -----------------------------------------------


def burst(store: Store, shop_id: str, monkeypatch: pytest.MonkeyPatch, fail: bool = False,
          cancel: int | None = None) -> tuple[list[Any], list[int], list[Any]]:
    """Personal answers of customers 0..5 (one with a history the model has not seen) asked
    in one turn of the event loop, then the same asked one at a time (their kept answers
    dropped first); and the sizes of the for_customers calls made for the burst."""
    from plugin.engine import queries
    from plugin.engine.serving import serve_query
    from plugin.store.cache import ShopCache

    calls: list[int] = []
    original = ShopModel.for_customers

    def counted(model: ShopModel, asked: Any, *args: Any) -> Any:
        calls.append(len(asked))
        if fail:
            raise RuntimeError("scoring failed")
        return original(model, asked, *args)

    monkeypatch.setattr(ShopModel, "for_customers", counted)
    asked = [queries.Personal(str(n), 4, n % 2 == 1, {"105": 2} if n == 4 else {})
             for n in range(6)]

    async def work(redis: Any) -> tuple[list[Any], list[int], list[Any]]:
        cache = ShopCache(redis)
        await cache.model(shop_id)  # loading a model drops what was kept: load it first
        await cache.blocked(shop_id)  # and the filter (a fresh process's first burst reads
        await cache.pins(shop_id)  # them once per request, and they end up in several runs)
        tasks = [asyncio.ensure_future(serve_query(cache, shop_id, "EUR", q)) for q in asked]
        if cancel is not None:
            await asyncio.sleep(0)  # every task waits for its run now
            tasks[cancel].cancel()
        together = await asyncio.gather(*tasks, return_exceptions=True)
        in_burst = list(calls)
        if fail:
            return together, in_burst, []
        alone = []
        for query in asked:
            cache.changed(shop_id, (changes.CUSTOMER, changes.customer_digest(query.customer)))
            alone.append(await serve_query(cache, shop_id, "EUR", query))
        return together, in_burst, alone

    return store.run(work)


def test_a_burst_of_first_calls_is_scored_together_as_each_alone(store, paired_shop,
                                                                 monkeypatch) -> None:
    """Six customers asked in one turn: one for_customers call per kind (bought products
    shown or not), each answer byte for byte what that customer is served alone."""
    together, in_burst, alone = burst(store, paired_shop.shop.shop_id, monkeypatch)
    assert sorted(in_burst) == [3, 3]
    assert together == alone and all(served.items for served in together)


def test_a_large_models_burst_is_scored_in_a_thread_to_the_same_answers(store, paired_shop,
                                                                        monkeypatch) -> None:
    from plugin.engine import serving

    monkeypatch.setattr(serving, "INLINE_ITEMS", 0)
    threads: list[Any] = []
    to_thread = asyncio.to_thread
    monkeypatch.setattr(asyncio, "to_thread", lambda *a: threads.append(a) or to_thread(*a))
    together, in_burst, alone = burst(store, paired_shop.shop.shop_id, monkeypatch)
    assert sorted(in_burst) == [3, 3] and len(threads) >= 2
    assert together == alone


def test_a_failed_burst_reaches_every_caller_and_a_cancelled_one_leaves_the_rest(
        store, paired_shop, monkeypatch) -> None:
    shop_id = paired_shop.shop.shop_id
    together, _, _ = burst(store, shop_id, monkeypatch, fail=True)
    assert [str(error) for error in together] == ["scoring failed"] * 6
    monkeypatch.undo()
    together, in_burst, alone = burst(store, shop_id, monkeypatch, cancel=2)
    assert isinstance(together[2], asyncio.CancelledError)
    assert sorted(in_burst) == [2, 3]  # customer 2 was not scored
    assert together[:2] + together[3:] == alone[:2] + alone[3:]
