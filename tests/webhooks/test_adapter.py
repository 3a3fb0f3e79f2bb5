"""The parsing helpers PlatformAdapter's platforms share (webhooks/adapter.py)."""

from __future__ import annotations

import pytest

from plugin.store.fields import PayloadError
from webhooks.adapter import json_object, nonzero_id, product_lines


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
