"""E-mail blocks: a customer's recommendations as e-mail-ready HTML behind a signed URL (no API
key in the e-mail), and the signed click redirect that counts a click and opens the product."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from plugin.api.email_html import BlockProduct, absolute_url, format_price, render_block
from plugin.api.schemas import CUSTOMER_ID, EXCLUDE_PURCHASED, SHOP_ID, customer_id
from plugin.api.signed_links import (
    BLOCK_LINK_DAYS,
    CLICK_LINK_DAYS,
    MAX_LINK_DAYS,
    LinkRefused,
    block_url,
    check_signed,
    click_fields,
    click_url,
    expiry,
    link_secret,
)
from plugin.config import Secret
from plugin.engine import queries
from plugin.engine.serving import serve_query
from plugin.store import keys
from plugin.store.shops import Shop, get_shop
from plugin.store.tracking import record_click
from plugin.web.auth import authorized
from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    Schema,
    documented,
    integer,
    nullable,
    obj,
    string,
)
from plugin.web.params import BadRequest, parse_bool, parse_id, parse_int
from plugin.web.problems import problem

log = logging.getLogger(__name__)

DEFAULT_PRODUCTS = 4
MAX_PRODUCTS = 12
MAX_HEADING = 200
BLOCK_HEADERS = {
    "Cache-Control": "private, max-age=300",
    "Referrer-Policy": "no-referrer",  # the signed URL never leaks to image hosts
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src http: https:; "
                               "style-src 'unsafe-inline'",
}


def parse_heading(raw: str | None) -> str:
    heading = (raw or "").strip()
    if len(heading) > MAX_HEADING:
        raise BadRequest(f"heading must be at most {MAX_HEADING} characters, got {len(heading)}")
    return heading


def email_fields(
    item: Mapping[str, Any], shop: Shop, secret: Secret, public_url: str, customer_id: str,
    exp: int,
) -> dict[str, Any]:
    """What an e-mail needs beside an API item: the tracked link, the formatted price and the
    absolute image URL (None unless http(s))."""
    return {
        "click_url": click_url(public_url, secret, shop.shop_id, customer_id,
                               item["product_id"], exp),
        "display_price": format_price(item.get("price"), shop.currency, shop.locale),
        "email_image_url": absolute_url(item.get("image_url"), shop.storefront_url),
    }


EXAMPLE_SIG = "Hq0w3n5mU2m1cQ4oVZB5sJr1yKcN8x7d9fL2aT6eXbE"
BLOCK_URL_EXAMPLE = ("https://reco.example.com/email/v1/blocks/my-shop/207119551?limit=4&"
                     f"exclude_purchased=false&exp=1753920000&sig={EXAMPLE_SIG}")
EMAIL_FIELDS: dict[str, Schema] = {  # what email_fields adds to an item, for the reference
    "click_url": string(
        f"The tracked link to the product: counts the click (placement email), then opens the "
        f"product's page. Signed, no API key in it; valid {CLICK_LINK_DAYS} days.",
        "https://reco.example.com/email/v1/click?shop=my-shop&customer=207119551&product="
        f"632910392&exp=1782950400&sig={EXAMPLE_SIG}", format="uri"),
    "display_price": nullable(string(
        "The price as the shop's customers read it (the shop's currency and locale); null "
        "when the catalog has no price.", "19,90 €")),
    "email_image_url": nullable(string(
        "The product's image as an absolute http(s) URL (relative to the storefront when the "
        "catalog's is); null without a safe one.", "https://cdn.example.com/mug.jpg",
        format="uri")),
}


def block_product(item: Mapping[str, Any], extra: Mapping[str, Any]) -> BlockProduct:
    return BlockProduct(title=item.get("title") or "", link=extra["click_url"],
                        price=extra["display_price"], image_url=extra["email_image_url"])


BLOCK_URL = obj("A signed URL of the customer's e-mail block.", {
    "shop_id": SHOP_ID,
    "customer_id": customer_id(),
    "url": string(
        "The block's address: GET it (no API key) for an HTML fragment of the customer's "
        "recommendations, e-mail-safe, with tracked product links; an e-mail tool fetches it at "
        "send time. Anyone with it sees the block until it expires.",
        BLOCK_URL_EXAMPLE, format="uri"),
    "expires_at": string("When the URL stops working (a UTC midnight).", "2025-07-31T00:00:00Z",
                         format="date-time"),
})


@documented(Operation(
    "GET", "emailBlockUrl", "A signed URL of a customer's e-mail block", "Nurture",
    {200: Answer("The URL and when it expires.", BLOCK_URL)}, "lifecycle:read",
    description="The block shows what the personal recommendation call would (`reason` "
                "buy_again or personal; trending for a customer the shop has not seen), as "
                "HTML for an e-mail. Any customer id gets a URL.",
    params=(CUSTOMER_ID,
            Param("limit", integer(f"How many products the block shows at most (default "
                                   f"{DEFAULT_PRODUCTS}).", DEFAULT_PRODUCTS, minimum=1,
                                   maximum=MAX_PRODUCTS)),
            EXCLUDE_PURCHASED,
            Param("heading", string(f"A heading above the products (surrounding spaces "
                                    f"trimmed; at most {MAX_HEADING} characters; default "
                                    f"none).", "Picked for you", maxLength=MAX_HEADING)),
            Param("expires_in_days", integer(f"How long the URL works, in days (default "
                                             f"{BLOCK_LINK_DAYS}; rounded up to a UTC "
                                             "midnight).", BLOCK_LINK_DAYS, minimum=1,
                                             maximum=MAX_LINK_DAYS))),
))
@authorized
async def email_block_url(request: Request, shop: Shop) -> Response:
    """A signed URL of the customer's e-mail block, valid `expires_in_days` (default 30)."""
    customer_id = parse_id("customer_id", request.path_params["customer_id"])
    params = request.query_params
    limit = parse_int("limit", params.get("limit"), DEFAULT_PRODUCTS, 1, MAX_PRODUCTS)
    exclude = parse_bool("exclude_purchased", params.get("exclude_purchased"))
    heading = parse_heading(params.get("heading"))
    days = parse_int("expires_in_days", params.get("expires_in_days"), BLOCK_LINK_DAYS, 1,
                     MAX_LINK_DAYS)
    secret = await link_secret(request.app.state.redis, shop.shop_id)
    exp = expiry(days)
    url = block_url(request.app.state.settings.public_url, secret, shop.shop_id, customer_id,
                    limit, exclude, heading, exp)
    return JSONResponse({
        "shop_id": shop.shop_id, "customer_id": customer_id, "url": url,
        "expires_at": datetime.fromtimestamp(exp, UTC).isoformat().replace("+00:00", "Z"),
    })


async def email_block(request: Request) -> Response:
    """GET /email/v1/blocks/{shop_id}/{customer_id}?limit&exclude_purchased&heading&exp&sig:
    the HTML block. The signature, not an API key, authorizes it."""
    shop_id, customer_id = request.path_params["shop_id"], request.path_params["customer_id"]
    params = request.query_params
    raw_exclude = params.get("exclude_purchased", "")
    signed = ["block", shop_id, customer_id, params.get("limit", ""),
              {"true": "1", "false": "0"}.get(raw_exclude, raw_exclude), params.get("heading", "")]
    redis = request.app.state.redis
    try:
        shop = await _signed_shop(redis, shop_id, signed, params.get("exp"), params.get("sig"))
    except LinkRefused as refused:
        return problem(refused.status, refused.detail)
    limit, exclude, heading = int(signed[3]), signed[4] == "1", signed[5]
    cache = request.app.state.cache
    query = await queries.personal(cache, shop_id, customer_id, limit, exclude)
    served = await serve_query(cache, shop_id, shop.currency, query)
    secret = await link_secret(redis, shop_id)
    public_url = request.app.state.settings.public_url
    products = [block_product(item, email_fields(item, shop, secret, public_url, customer_id,
                                                 expiry(CLICK_LINK_DAYS)))
                for item in served.items]
    return HTMLResponse(render_block(products, heading), headers=BLOCK_HEADERS)


async def email_click(request: Request) -> Response:
    """GET /email/v1/click?shop&customer&product&exp&sig: count the click, 303 to the product
    (its catalog URL, never one from the query: this is no open redirect)."""
    params = request.query_params
    shop_id, customer_id = params.get("shop", ""), params.get("customer", "")
    product_id = params.get("product", "")
    redis = request.app.state.redis
    try:
        shop = await _signed_shop(redis, shop_id, click_fields(shop_id, customer_id, product_id),
                                  params.get("exp"), params.get("sig"))
    except LinkRefused as refused:
        return problem(refused.status, refused.detail)
    target = await product_url(redis, shop, product_id)
    if request.method == "GET":  # link checkers that only HEAD a link are no clicks
        await _record_click(redis, shop_id, product_id, customer_id, params["sig"])
    return RedirectResponse(target, status_code=303,
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def _signed_shop(
    redis: aioredis.Redis, shop_id: str, fields: list[str], exp: str | None, sig: str | None
) -> Shop:
    if not keys.SHOP_ID_PATTERN.match(shop_id):
        raise LinkRefused(403, "the link's signature does not match: it was changed or revoked")
    await check_signed(redis, shop_id, fields, exp, sig)
    shop = await get_shop(redis, shop_id)
    if shop is None:  # the shop was removed after the link was made
        raise LinkRefused(410, f"shop {shop_id!r} no longer exists here")
    return shop


async def product_url(redis: aioredis.Redis, shop: Shop, product_id: str) -> str:
    """The product's page as an absolute http(s) URL; the storefront's home without one."""
    raw = await redis.hget(keys.products(shop.shop_id), product_id)
    entry = json.loads(raw) if raw else {}
    url = absolute_url(entry.get("url"), shop.storefront_url) if isinstance(entry, dict) else None
    return url or absolute_url(shop.storefront_url, shop.storefront_url) or shop.storefront_url


async def _record_click(
    redis: aioredis.Redis, shop_id: str, product_id: str, customer_id: str, sig: str
) -> None:
    """Count the click once per link and day (readers click twice, mail scanners prefetch)."""
    try:
        first = await redis.set(keys.email_click_seen(shop_id, sig), "1", nx=True,
                                ex=keys.EMAIL_CLICK_DEDUPE_SECONDS)
        if not first:
            return
        await record_click(redis, shop_id, placement="email", product_id=product_id,
                           customer_id=customer_id, visitor_id=None, at=time.time())
    except Exception as error:  # a lost count must never stop the reader reaching the product
        log.warning("email click of shop %s not recorded: %s", shop_id, type(error).__name__)


routes = [
    Route("/api/v1/shops/{shop_id}/lifecycle/customers/{customer_id}/email-block-url",
          email_block_url),
    Route("/email/v1/blocks/{shop_id}/{customer_id}", email_block),
    Route("/email/v1/click", email_click),
]
