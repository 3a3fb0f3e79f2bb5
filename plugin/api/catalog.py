"""The catalog through the JSON API, for custom storefronts and headless shops whose platform
sends no product webhooks: products upserted one at a time or in batches, read back, deleted.

    GET    /catalog/products/{product_id}   the product as stored (404: not in the catalog)
    PUT    /catalog/products/{product_id}   upsert one: {"title", "price", "url"?, ...}
    DELETE /catalog/products/{product_id}   never recommended again (204)
    POST   /catalog/products                upsert a batch: {"products": [...]} (at most 100)

What is accepted can always be served: ids, amounts, display text and URLs obey the project's
field rules (plugin.store.fields, plugin.store.urls), and anything else is refused with a 400
that names the field, storing nothing (for a batch: nothing of it). A write reaches every
process's cache within its bound, through a change note per product (plugin.store.catalog).
A deleted product stays in the catalog, unavailable (records.delete_product, as a platform's
delete webhook does): an order of it never brings it back, a later upsert does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.schemas import CURRENCY, HTTP_URL, PRICE, PRODUCT_ID, SHOP_ID, product_id
from plugin.store import changes
from plugin.store.catalog import store_products, stored_product
from plugin.store.fields import (
    MAX_TEXT_CHARS,
    PayloadError,
    currency_code,
    display_text,
    http_url,
    money,
)
from plugin.store.records import delete_product
from plugin.store.shops import Shop
from plugin.store.urls import MAX_URL_CHARS, safe_http_url
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
from plugin.web.problems import problem

MAX_BATCH = 100
FIELDS = ("product_id", "title", "price", "currency", "url", "image_url", "available",
          "variant_id")
SHAPE = ('{"title": "Blue mug", "price": "19.90", "url": "https://...", '
         '"image_url": "https://..." | null, "available": true}')
BATCH_SHAPE = ('{"products": [{"product_id": "632910392", "title": "Blue mug", '
               '"price": "19.90", ...}]}')
_PRICE = re.compile(r"^[0-9]+(\.[0-9]+)?\Z")  # what the reference promises an answer holds

# ---- the reference (plugin.web.openapi) ---------------------------------------------------------

TAG = "Catalog"
PRODUCT = named("CatalogProduct", obj("A product of the shop's catalog, as stored.", {
    "product_id": product_id(),
    "title": string("The product's title.", "Blue mug"),
    "price": PRICE,
    "currency": CURRENCY,
    "url": HTTP_URL,
    "image_url": HTTP_URL,
    "available": boolean("It may be recommended: false when out of stock, unpublished or "
                         "deleted.", True),
    "variant_id": nullable(string("The variant a widget adds to a cart; null: the product.",
                                  "808950810")),
    "deleted": boolean("It was deleted (DELETE, or the platform's delete webhook): it stays "
                       "unavailable until it is upserted again.", False),
}))
ONE = obj("A product and its shop.", {"shop_id": SHOP_ID, "product": PRODUCT})
MANY = obj("The products of a batch, as stored, in the order sent.", {
    "shop_id": SHOP_ID,
    "products": array(PRODUCT, f"Every product of the batch (at most {MAX_BATCH}).",
                      maxItems=MAX_BATCH)})
URL_RULE = ("An absolute http(s) URL with a host, or a path on the shop's storefront "
            "(`/products/mug`); no spaces, quotes, angle brackets or user name. Null or "
            "absent: none.")


def sent_product(with_id: bool) -> Schema:
    fields: dict[str, Schema] = {
        "product_id": product_id("The product's id" + (
            "." if with_id else "; optional, and then the path's.")),
        "title": string("The title shoppers see (1 to 500 characters; control characters "
                        "become spaces).", "Blue mug", minLength=1, maxLength=MAX_TEXT_CHARS),
        "price": string("The price, a decimal string in the shop's currency (never a float): "
                        "no sign, no exponent, at most 1,000,000,000,000.", "19.90",
                        pattern=r"^[0-9]+(\.[0-9]+)?$", maxLength=40),
        "currency": nullable({**CURRENCY, "description": "The price's currency: optional, and "
                              "then the shop's own (a shop has one currency)."}),
        "url": nullable(string(f"The product page. {URL_RULE}",
                               "https://shop.example.com/products/mug",
                               maxLength=MAX_URL_CHARS)),
        "image_url": nullable(string(f"Its image. {URL_RULE}",
                                     "https://cdn.example.com/mug.jpg",
                                     maxLength=MAX_URL_CHARS)),
        "available": boolean("false: out of stock or unpublished, never recommended. Default "
                             "true.", True),
        "variant_id": nullable(product_id("The variant a widget adds to a cart (Shopify's "
                                          "cart needs one). Default null.")),
    }
    optional = [name for name in FIELDS if name not in ("title", "price")]
    if with_id:
        optional.remove("product_id")
    return obj("A product to store: it replaces the stored one whole.", fields,
               optional=optional)


@documented(
    Operation("GET", "getCatalogProduct", "One product of the catalog", TAG,
              {200: Answer("The product as stored.", ONE)}, "catalog:read",
              params=(PRODUCT_ID,),
              description="As stored from the platform's webhooks, its orders or this API.",
              errors=(400, 401, 403, 404)),
    Operation("PUT", "putCatalogProduct", "Store a product", TAG,
              {200: Answer("The product as stored.", ONE)}, "catalog:write",
              params=(PRODUCT_ID,), body=sent_product(False),
              description="Inserts or replaces the product. A bad field refuses it with a 400 "
                          "that names the field, and nothing is stored. Every server process "
                          "serves it within a second.",
              errors=(400, 401, 403, 404)),
    Operation("DELETE", "deleteCatalogProduct", "Delete a product", TAG,
              {204: Answer("Deleted: it is never recommended again.")}, "catalog:write",
              params=(PRODUCT_ID,),
              description="It stays in the catalog as deleted and unavailable, so an order of "
                          "it never brings it back; storing it again (PUT) does.",
              errors=(400, 401, 403, 404)),
)
@authorized
async def catalog_product(request: Request, shop: Shop) -> Response:
    """GET, PUT or DELETE one product (see the module doc)."""
    redis = request.app.state.redis
    product = parse_id("product_id", request.path_params["product_id"])
    if request.method == "PUT":
        entry = parse_product(await json_body(request, SHAPE), "", shop, product)
        stored = await store_products(redis, shop.shop_id, [entry], shop.storefront_url)
        request.app.state.cache.changed(shop.shop_id, (changes.PRODUCT, product))
        return JSONResponse({"shop_id": shop.shop_id,
                             "product": product_json(stored[0], shop.currency)})
    if request.method == "DELETE":
        await delete_product(redis, shop.shop_id, product)
        request.app.state.cache.changed(shop.shop_id, (changes.PRODUCT, product))
        return Response(status_code=204)
    found = await stored_product(redis, shop.shop_id, product)
    if found is None:
        return problem(404, f"product {product!r} is not in the catalog of shop "
                            f"{shop.shop_id!r}")
    return JSONResponse({"shop_id": shop.shop_id, "product": product_json(found, shop.currency)})


@documented(Operation(
    "POST", "postCatalogProducts", "Store a batch of products", TAG,
    {200: Answer("The products as stored.", MANY)}, "catalog:write",
    body=obj("The products to store.", {
        "products": array(sent_product(True), f"1 to {MAX_BATCH} products, each id once.",
                          minItems=1, maxItems=MAX_BATCH)}),
    description="All or nothing: one bad product refuses the batch with a 400 that names it "
                "(`products[3].price`), and nothing is stored. Each product replaces the "
                "stored one whole.",
    errors=(400, 401, 403, 404),
))
@authorized
async def catalog_products(request: Request, shop: Shop) -> Response:
    body = await json_body(request, BATCH_SHAPE)
    if not isinstance(body, dict) or set(body) != {"products"} \
            or not isinstance(body["products"], list):
        raise BadRequest(f"the body must be an object with one field, a list `products`: "
                         f"{BATCH_SHAPE}")
    sent = body["products"]
    if not 1 <= len(sent) <= MAX_BATCH:
        raise BadRequest(f"products must hold 1 to {MAX_BATCH} products, got {len(sent)}")
    entries: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for n, raw in enumerate(sent):
        entry = parse_product(raw, f"products[{n}].", shop)
        if entry["product_id"] in first:
            raise BadRequest(f"products[{n}].product_id {entry['product_id']!r} repeats "
                             f"products[{first[entry['product_id']]}]; send each product once")
        first[entry["product_id"]] = n
        entries.append(entry)
    stored = await store_products(request.app.state.redis, shop.shop_id, entries,
                                  shop.storefront_url)
    request.app.state.cache.changed(shop.shop_id, *((changes.PRODUCT, e["product_id"])
                                                    for e in stored))
    return JSONResponse({"shop_id": shop.shop_id,
                         "products": [product_json(e, shop.currency) for e in stored]})


def parse_product(raw: Any, where: str, shop: Shop, path_id: str | None = None
                  ) -> dict[str, Any]:
    """The catalog entry of a sent product (see sent_product), or BadRequest naming the field;
    `where` prefixes the names of its fields ("products[3]." in a batch)."""
    whole = where.rstrip(".") or "the body"
    if not isinstance(raw, dict):
        raise BadRequest(f"{whole} must be an object: {SHAPE}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise BadRequest(f"{whole} has unknown fields {', '.join(map(str, unknown))}; a "
                         f"product has {', '.join(FIELDS)}")
    try:
        return _entry(raw, where, shop, path_id)
    except PayloadError as error:
        raise BadRequest(str(error)) from None


def _entry(raw: Mapping[str, Any], where: str, shop: Shop, path_id: str | None
           ) -> dict[str, Any]:
    sent_id = raw.get("product_id")
    if path_id is None or sent_id is not None:
        product = parse_id(f"{where}product_id", sent_id)
        if path_id is not None and product != path_id:
            raise BadRequest(f"{where}product_id {product!r} is not the path's {path_id!r}")
    else:
        product = path_id
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TEXT_CHARS:
        raise BadRequest(f"{where}title must be text of 1 to {MAX_TEXT_CHARS} characters, "
                         f"got {_shown(title)}")
    price = raw.get("price")
    if not isinstance(price, str) or not _PRICE.match(money(price, f"{where}price")):
        raise BadRequest(f'{where}price must be a decimal string such as "19.90" (no sign, '
                         f"no exponent), got {_shown(price)}")
    currency = currency_code(raw.get("currency"), f"{where}currency", shop.currency)
    if currency != shop.currency:
        raise BadRequest(f"{where}currency must be the shop's currency, {shop.currency}, got "
                         f"{_shown(raw.get('currency'))}")
    available = raw.get("available", True)
    if not isinstance(available, bool):
        raise BadRequest(f"{where}available must be true or false, got {_shown(available)}")
    variant = raw.get("variant_id")
    entry: dict[str, Any] = {
        "product_id": product, "title": display_text(title, f"{where}title"),
        "price": money(price, f"{where}price"), "url": _url(raw, "url", where, shop),
        "image_url": _url(raw, "image_url", where, shop), "available": available,
        "source": "api"}
    if variant is not None:
        entry["variant_id"] = parse_id(f"{where}variant_id", variant)
    return entry


def _url(raw: Mapping[str, Any], name: str, where: str, shop: Shop) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    checked = http_url(value, shop.storefront_url) if isinstance(value, str) else None
    if checked is None:
        raise BadRequest(f"{where}{name} must be an absolute http(s) URL with a host, or a "
                         "path on the shop's storefront, without spaces, quotes, angle "
                         f"brackets or a user name, got {_shown(value)}")
    return checked


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def product_json(entry: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """A stored catalog entry as the API answers it (the reference's CatalogProduct)."""
    variant = entry.get("variant_id")
    return {"product_id": str(entry.get("product_id")), "title": str(entry.get("title") or ""),
            "price": entry.get("price"), "currency": currency,
            "url": safe_http_url(entry.get("url")),
            "image_url": safe_http_url(entry.get("image_url")),
            "available": entry.get("available", True) is not False,
            "variant_id": None if variant is None else str(variant),
            "deleted": entry.get("deleted") is True}


routes = [
    Route(f"{PREFIX}/catalog/products/{{product_id}}", catalog_product,
          methods=["GET", "PUT", "DELETE"]),
    Route(f"{PREFIX}/catalog/products", catalog_products, methods=["POST"]),
]
