"""PlatformAdapter's own part (webhooks/adapter.py): finding the shop a delivery names as the
path's shop id says, the 404 hint, and the parsing helpers the platforms share. (What every
registered adapter does over HTTP: tests/webhooks/test_adapters.py.)"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from plugin.store.cache import ShopCache
from plugin.store.fields import PayloadError
from tests.conftest import Store
from tests.platform_server import register_shop
from webhooks import custom, ecwid, shopify
from webhooks.adapter import (
    PlatformAdapter,
    json_object,
    nonzero_id,
    objects,
    optional_id,
    parse_json,
    product_lines,
)


def test_product_lines_yields_field_line_and_product_id() -> None:
    lines = [{"product_id": 7, "quantity": 2}, {"product_id": "8"}]
    assert list(product_lines(lines, "line_items", "product_id")) == [
        ("line_items[0]", lines[0], "7"), ("line_items[1]", lines[1], "8")]


def test_product_lines_skips_lines_without_a_product() -> None:
    lines = [{"product_id": None}, {"title": "tip"}, {"product_id": 9}]
    assert [field for field, _, _ in product_lines(lines, "line_items", "product_id")] == [
        "line_items[2]"]


def test_product_lines_names_a_line_that_is_not_an_object() -> None:
    with pytest.raises(PayloadError, match=r"^items\[1\] must be an object$"):
        list(product_lines([{"productId": 1}, "x"], "items", "productId"))


def test_product_lines_names_the_field_of_a_malformed_product_id() -> None:
    with pytest.raises(PayloadError, match=r"^line_items\[0\]\.product_id must be an integer"):
        list(product_lines([{"product_id": True}], "line_items", "product_id"))


def test_product_lines_uses_the_platforms_own_id_rule() -> None:
    lines = [{"product_id": 0}, {"product_id": "0"}, {"product_id": ""}, {"product_id": 5}]
    found = product_lines(lines, "products", "product_id", nonzero_id)
    assert [product for _, _, product in found] == ["5"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff", b""])
def test_json_object_is_empty_for_a_body_that_is_not_an_object(body: bytes) -> None:
    assert json_object(body) == {}


def test_json_object_reads_an_object() -> None:
    assert json_object(b'{"storeId": 1003}') == {"storeId": 1003}


def test_parse_json_refuses_a_body_that_is_not_json_as_a_payload_error() -> None:
    assert parse_json(b'[{"id": 1}]') == [{"id": 1}]
    with pytest.raises(PayloadError):
        parse_json(b'{"id": ')


def test_objects_are_the_dicts_of_a_list_field() -> None:
    assert objects([{"src": "a"}, 5, None, {"src": "b"}]) == [{"src": "a"}, {"src": "b"}]
    assert objects(5) == objects(None) == objects({"src": "a"}) == []


def test_optional_id_is_none_when_absent() -> None:
    assert optional_id(None, "id") is None and optional_id("", "id") is None
    assert optional_id(42, "id") == "42"
    with pytest.raises(PayloadError, match=r"^id "):
        optional_id([], "id")


# ---- how a delivery names its shop, by what the path's shop id does -------------------------


@pytest.mark.parametrize(("adapter", "path_shop_id", "hint"), [
    (custom.ADAPTER, "s1", "shop id 's1'"),
    (custom.ADAPTER, None, "a request without a shop id (POST to /webhooks/custom/{shop_id})"),
    (shopify.ADAPTER, "s1", "X-Shopify-Shop-Domain 'a.myshopify.com'"),
    (ecwid.ADAPTER, "s1", "storeId '1003' and shop id 's1'"),
    (ecwid.ADAPTER, None, "storeId '1003'"),
], ids=["selects", "selects-none", "ignored", "checked", "checked-none"])
def test_the_404_hint_quotes_what_the_delivery_named(adapter, path_shop_id, hint) -> None:
    headers = {"x-shopify-shop-domain": "a.myshopify.com"}
    assert adapter.shop_hint(path_shop_id, headers, b'{"storeId": 1003}') == hint


def find(store: Store, adapter: PlatformAdapter, path_shop_id: str | None,
         headers: dict[str, str], body: bytes = b"{}") -> str | None:
    async def work(redis: Any) -> str | None:
        shop = await adapter.find_shop(ShopCache(redis), path_shop_id, headers, body)
        return None if shop is None else shop.shop_id

    return store.run(work)


def test_a_held_shop_is_found_without_a_coroutine_once_find_shop_found_it(store, shop) -> None:
    named = {"x-shopify-shop-domain": shop.shop.domain.upper()}
    other = {"x-shopify-shop-domain": "another-" + shop.shop.domain}

    async def work(redis: Any) -> list[Any]:
        cache = ShopCache(redis)
        before = shopify.ADAPTER.held_shop(cache, None, named, b"{}")
        found = await shopify.ADAPTER.find_shop(cache, None, named, b"{}")
        return [before, found, shopify.ADAPTER.held_shop(cache, None, named, b"{}"),
                shopify.ADAPTER.held_shop(cache, "ignored", named, b"{}"),
                shopify.ADAPTER.held_shop(cache, None, other, b"{}"),
                custom.ADAPTER.held_shop(cache, shop.shop.shop_id, {}, b"{}")]

    before, found, held, ignored_path, other_domain, by_path = store.run(work)
    assert before is None and found is not None and found.shop_id == shop.shop.shop_id
    assert held is found and ignored_path is found
    assert other_domain is None
    assert by_path is None  # a path that selects (or checks) the shop: left to find_shop


def test_a_path_that_selects_the_shop_is_the_shop(store, make_shop) -> None:
    shop = make_shop().shop
    assert find(store, custom.ADAPTER, shop.shop_id, {}) == shop.shop_id
    assert find(store, custom.ADAPTER, "nobody-" + shop.shop_id, {}) is None
    assert find(store, custom.ADAPTER, None, {}) is None


def test_an_ignored_path_leaves_the_shop_to_the_delivery(store, shop) -> None:
    named = {"x-shopify-shop-domain": shop.shop.domain.upper()}
    assert find(store, shopify.ADAPTER, "whatever", named) == shop.shop.shop_id
    assert find(store, shopify.ADAPTER, shop.shop.shop_id, {}) is None


def test_a_checked_path_must_name_the_shop_the_delivery_names(store) -> None:
    store_id = str(3_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    shop = register_shop(store, "ecwid", store_id, "http://127.0.0.1:9")
    body = f'{{"storeId": {store_id}}}'.encode()
    assert find(store, ecwid.ADAPTER, None, {}, body) == shop.shop_id
    assert find(store, ecwid.ADAPTER, shop.shop_id, {}, body) == shop.shop_id
    assert find(store, ecwid.ADAPTER, "another-shop", {}, body) is None
