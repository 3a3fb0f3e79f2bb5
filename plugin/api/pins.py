"""The owner's pinned products under /api/v1/shops/{shop_id}/pins: products shown first, for
one product or everywhere, until an optional end (plugin.store.pins; serving puts them first).

    GET  the stored pins, ended ones too (`active`: false)
    PUT  {"pins": [{"product_id", "for_product_id": id | null, "until": time | date | null}]}
         replaces the whole list; any bad entry refuses it all (400, nothing stored)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.schemas import ISO_TIME, SHOP_ID, product_id
from plugin.store import changes
from plugin.store.pins import MAX_PINS, Pin, check_pins, iso, new_pin, pins, replace_pins
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.body import json_body
from plugin.web.openapi import (
    Answer,
    Operation,
    Schema,
    array,
    boolean,
    documented,
    named,
    nullable,
    obj,
    string,
)
from plugin.web.params import BadRequest, parse_id

SHAPE = ('{"pins": [{"product_id": "...", "for_product_id": "..." | null, '
         '"until": "2026-12-24T00:00:00Z" | "2026-12-24" | null}]}')
PIN_FIELDS = frozenset({"product_id", "for_product_id", "until"})
READ_ONLY = frozenset({"active"})  # what GET answers besides: sent back, it is ignored

# ---- the reference (plugin.web.openapi) ---------------------------------------------------------

TAG = "Catalog"
PINNED = "The product shown first."
WHERE = ("The product whose answers it starts (its page, or a cart or order holding it); null: "
         "every answer.")
PINS = named("Pins", obj("The owner's pinned products, in the owner's order.", {
    "shop_id": SHOP_ID,
    "pins": array(named("Pin", obj("A product shown first, before the model's answer.", {
        "product_id": product_id(PINNED),
        "for_product_id": nullable(product_id(WHERE)),
        "until": nullable({**ISO_TIME, "description": "When it ends (UTC, ISO 8601); null: "
                           "never. A date sent is stored as the end of that day."}),
        "active": boolean("It shows now: false once `until` has passed (the pin stays listed "
                          "until a PUT leaves it out).", True),
    })), f"Every stored pin, ended ones too (at most {MAX_PINS}).", maxItems=MAX_PINS),
}))


def sent_id(description: str) -> Schema:
    """An id as a PUT accepts it: a string, or an integer (stored as its decimal string)."""
    return {**product_id(description), "type": ["string", "integer"]}


SENT_PIN = obj("A pin to store. A field GET answers besides (`active`) is accepted and ignored, "
               "so a listed pin may be sent back as it is; any other field is refused.", {
    "product_id": sent_id(PINNED),
    "for_product_id": nullable(sent_id(f"{WHERE} Default null.")),
    "until": nullable(string(
        "When it ends, in the future and before 2100: an ISO 8601 time with a time zone, or a "
        "date YYYY-MM-DD meaning the end of that day (UTC); null or absent: never.",
        "2026-12-24T00:00:00Z", maxLength=40,
        anyOf=[{"format": "date-time"}, {"format": "date"}])),
    "active": boolean("Read-only: accepted and ignored.", True),
}, optional=("for_product_id", "until", "active"))
PUT_BODY = obj(
    "The whole new list, in the order the pins show (an empty list removes them all). A "
    "product is pinned at most once per place (everywhere, or for one product) and never "
    "to itself.",
    {"pins": array(SENT_PIN, f"At most {MAX_PINS} pins.", maxItems=MAX_PINS),
     "shop_id": {**SHOP_ID, "description": "Accepted and ignored (GET's answer may be sent "
                 "back as it is)."}},
    optional=("shop_id",))


@documented(
    Operation("GET", "getPins", "Products shown first", TAG,
              {200: Answer("The stored pins.", PINS)}, "catalog:read",
              description="Every stored pin, those whose end has passed too (`active`: false).",
              errors=(401, 403, 404)),
    Operation("PUT", "putPins", "Replace the products shown first", TAG,
              {200: Answer("The pins, as stored.", PINS)}, "catalog:write",
              description="Replaces the whole list at once; any bad entry refuses it all (400 "
                          "saying which and why; nothing is stored).",
              body=PUT_BODY, errors=(400, 401, 403, 404, 408, 413)),
)
@authorized
async def pinned_products(request: Request, shop: Shop) -> Response:
    """GET: the owner's pins. PUT: replace them (see the module doc)."""
    redis = request.app.state.redis
    stored = await pins(redis, shop.shop_id)
    now = time.time()
    if request.method == "PUT":
        stored = parse_pins(await json_body(request, SHAPE), stored, now)
        await replace_pins(redis, shop.shop_id, stored)
        request.app.state.cache.changed(shop.shop_id, (changes.PINS, ""))
    return JSONResponse({"shop_id": shop.shop_id, "pins": [pin_json(p, now) for p in stored]})


def parse_pins(body: Any, stored: Sequence[Pin], now: float) -> list[Pin]:
    """The pins of a PUT body (creation times of unchanged places kept), or BadRequest."""
    if not isinstance(body, dict) or not isinstance(body.get("pins"), list) \
            or set(body) - {"pins", "shop_id"}:
        raise BadRequest(f"the body must be an object with a list `pins`: {SHAPE}")
    if len(body["pins"]) > MAX_PINS:
        raise BadRequest(f"at most {MAX_PINS} pinned products, got {len(body['pins'])}")
    found = []
    for n, item in enumerate(body["pins"]):
        if not isinstance(item, dict):
            raise BadRequest(f"pins[{n}] must be an object: {SHAPE}")
        unknown = sorted(set(item) - PIN_FIELDS - READ_ONLY)
        if unknown:
            raise BadRequest(f"pins[{n}] has unknown fields {', '.join(unknown)}; a pin has "
                             "product_id, for_product_id and until")
        product = parse_id(f"pins[{n}].product_id", item.get("product_id"))
        where = item.get("for_product_id")
        where = None if where is None else parse_id(f"pins[{n}].for_product_id", where)
        try:
            found.append(new_pin(product, where, item.get("until"), now, stored))
        except ValueError as error:
            raise BadRequest(f"pins[{n}]: {error}") from None
    try:
        return list(check_pins(found))
    except ValueError as error:
        raise BadRequest(str(error)) from None


def pin_json(pin: Pin, now: float) -> dict[str, Any]:
    return {"product_id": pin.product_id, "for_product_id": pin.for_product_id,
            "until": None if pin.until is None else iso(pin.until), "active": pin.active(now)}


routes = [Route(f"{PREFIX}/pins", pinned_products, methods=["GET", "PUT"])]
