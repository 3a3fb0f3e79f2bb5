"""Schemas more than one API module answers with (the OpenAPI reference's components):
recommendation items and answers, ids, money, times and the common query parameters."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision

from plugin.web.openapi import (
    Param,
    Schema,
    array,
    boolean,
    integer,
    named,
    nullable,
    number,
    obj,
    path_param,
    string,
)
from plugin.web.params import DEFAULT_LIMIT, MAX_LIMIT


def product_id(description: str = "A product's id on the shop's platform.") -> Schema:
    return string(description, "632910392", minLength=1, maxLength=128)


def customer_id(description: str = "A customer's id on the shop's platform.") -> Schema:
    return string(description, "207119551", minLength=1, maxLength=128)


SHOP_ID = string("The shop's id.", "my-shop")
MODEL_VERSION = nullable(string("The version of the model that made the answer; null before the "
                                "first training.", "7"))
PRICE = nullable(string("A price: a decimal string in the currency `currency` (never a float, so "
                        "no cent is lost); null when the catalog does not know it.", "19.90",
                        pattern=r"^-?\d+(\.\d+)?$"))
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"


def amount_schema(description: str, example: str) -> Schema:
    """A sum of money in the API: a decimal string with the currency's minor digits (2 for
    EUR, 0 for JPY), beside or under its currency."""
    return string(f"{description} A decimal string in the currency's minor unit digits.",
                  example, pattern=AMOUNT_PATTERN)


def amount(value: float | None, currency: str) -> str | None:
    """A computed sum of money as the API answers it (amount_schema); None stays None."""
    if value is None:
        return None
    unit = Decimal(1).scaleb(-get_currency_precision(currency))
    return str(Decimal(repr(float(value))).quantize(unit, ROUND_HALF_UP))


CURRENCY = string("An ISO 4217 currency code.", "EUR", pattern="^[A-Z]{3}$")
HTTP_URL = nullable(string("An absolute http(s) URL, or null when none is known or it is not "
                           "safe to show.", "https://shop.example.com/products/mug",
                           format="uri"))
ISO_TIME = string("A time in UTC, ISO 8601.", "2026-12-01T09:30:00Z", format="date-time")

ITEM = named("RecommendationItem", obj(
    "A recommended product with the catalog's display fields.",
    {
        "product_id": product_id(),
        "score": number("How strongly the model recommends it (higher first; comparable only "
                        "within one answer).", 0.7081),
        "reason": string(
            "Why it is here: bought_together, similar_items, cart, personal, buy_again, "
            "recently_viewed (the visitor viewed it), browsing (the visitor's views led to "
            "it), trending (a fallback filling the list) or pinned (the owner's pin).",
            "bought_together"),
        "because": array(product_id(), "The products (asked about, in the cart, bought or "
                         "viewed before) that led to it, where known.",
                         examples=[["632910392"]]),
        "title": nullable(string("The product's title.", "Blue mug")),
        "price": PRICE,
        "currency": CURRENCY,
        "url": HTTP_URL,
        "image_url": HTTP_URL,
        "variant_id": string("The variant to add to a cart, where the platform has variants.",
                             "808950810"),
    },
    optional=("because", "variant_id"),
))

RECOMMENDATIONS = named("Recommendations", obj(
    "Recommended products, best first.",
    {
        "shop_id": SHOP_ID,
        "model_version": MODEL_VERSION,
        "strategy": string("What made the list (the shop's chosen model, or trending before "
                           "one is trained).", "als+copurchase"),
        "items": array(ITEM, "At most `limit` products, best first; never the products "
                             "asked about."),
        "experiment": string("The running experiment the call is in (it names a visitor or "
                             "a customer); absent outside one.", "exp_0123456789ab",
                             pattern="^exp_[a-f0-9]{12}$"),
        "arm": string("The experiment's arm that answered; send both back with the widget "
                      "events of the products shown.", "B", minLength=1, maxLength=40),
    },
    optional=("experiment", "arm"),
))
VISITOR_ID = Param("visitor_id", string(
    "The shopper's visitor id (the widget's `shopreco_vid`: 1 to 128 letters, digits, '_', "
    "'.', ':' or '-'): places the call in the running experiment of its placement, if any.",
    "9f3c2a71d04b4e59a8e3c1b2f6d7e8a0", pattern="^[A-Za-z0-9_.:-]{1,128}$", minLength=1,
    maxLength=128))

LIMIT = Param("limit", integer(f"How many products at most (default {DEFAULT_LIMIT}).",
                               DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT))
PRODUCT_ID = path_param("product_id", "A product's id on the shop's platform.", "632910392")
CUSTOMER_ID = path_param("customer_id", "A customer's id on the shop's platform.", "207119551")
EXCLUDE_PURCHASED = Param("exclude_purchased", boolean(
    "true: only products the customer never bought; false (default): what they are most "
    "likely to buy next, repurchases included.", False))
