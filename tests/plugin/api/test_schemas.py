"""The shared schemas of the reference: an item as serving renders it is valid, prices are
decimal strings (never floats), ids are 1 to 128 characters, an unlisted field is refused."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from plugin.api.schemas import CURRENCY, HTTP_URL, ITEM, LIMIT, PRICE, amount, product_id
from plugin.web.openapi import COMPONENTS


def item_schema() -> Any:
    return COMPONENTS[ITEM["$ref"].rpartition("/")[2]]


ITEM_AS_SERVED = {"product_id": "632910392", "score": 0.7081, "reason": "bought_together",
                  "because": ["808950810"], "title": "Blue mug", "price": "19.90",
                  "currency": "EUR", "url": "https://shop.example.com/products/mug",
                  "image_url": None, "variant_id": "39072856"}


def test_an_item_as_serving_renders_it_keeps_the_schema() -> None:
    validator = Draft202012Validator(item_schema())
    assert validator.is_valid(ITEM_AS_SERVED)
    bare = {k: v for k, v in ITEM_AS_SERVED.items() if k not in {"because", "variant_id"}}
    assert validator.is_valid({**bare, "title": None, "price": None, "url": None})
    assert not validator.is_valid({**ITEM_AS_SERVED, "colour": "blue"})  # closed
    assert not validator.is_valid({k: v for k, v in ITEM_AS_SERVED.items() if k != "reason"})


def test_money_ids_and_urls_have_their_documented_types() -> None:
    price = Draft202012Validator(PRICE)
    assert price.is_valid("19.90") and price.is_valid("-3") and price.is_valid(None)
    assert not price.is_valid(19.9) and not price.is_valid("19,90")
    assert Draft202012Validator(CURRENCY).is_valid("EUR")
    assert not Draft202012Validator(CURRENCY).is_valid("eur")
    ids = Draft202012Validator(product_id())
    assert ids.is_valid("1") and not ids.is_valid("") and not ids.is_valid("x" * 129)
    assert not ids.is_valid(632910392)  # ids are strings everywhere
    assert Draft202012Validator(HTTP_URL).is_valid(None)
    limit = Draft202012Validator(LIMIT.schema)
    assert limit.is_valid(100) and not limit.is_valid(0) and not limit.is_valid(101)


def test_sums_of_money_are_decimal_strings_in_the_currency_s_digits() -> None:
    assert amount(18.75, "EUR") == "18.75" and amount(60.5, "EUR") == "60.50"
    assert amount(0.1 + 0.2, "USD") == "0.30"  # a float sum's error does not show
    assert amount(1234.5, "JPY") == "1235" and amount(1.2345, "KWD") == "1.235"
    assert amount(2.005, "EUR") == "2.01" and amount(None, "EUR") is None
    assert amount(7.0, "unknown") == "7.00"
