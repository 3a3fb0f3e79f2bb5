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
from plugin.store import changes
from plugin.store.pins import MAX_PINS, Pin, check_pins, iso, new_pin, pins, replace_pins
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.body import json_body
from plugin.web.params import BadRequest, parse_id

SHAPE = ('{"pins": [{"product_id": "...", "for_product_id": "..." | null, '
         '"until": "2026-12-24T00:00:00Z" | "2026-12-24" | null}]}')
PIN_FIELDS = frozenset({"product_id", "for_product_id", "until"})
READ_ONLY = frozenset({"active"})  # what GET answers besides: sent back, it is ignored


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
