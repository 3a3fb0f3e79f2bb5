"""Nurture feeds: the customers of a lifecycle stage (or all), each with the products the
personal recommendation call would show them and why, as paginated JSON or CSV for e-mail tools.

Customers are ordered by customer id (as text). A cursor names the last customer of a page and
the as-of instant of the first page, so every page of one walk sees the same stages.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from plugin.api.email import BLOCK_URL_EXAMPLE, EMAIL_FIELDS, MAX_PRODUCTS, email_fields
from plugin.api.lifecycle import AS_OF, SCOPE, customer_scores, parse_as_of
from plugin.api.schemas import (
    CURRENCY,
    EXCLUDE_PURCHASED,
    ITEM,
    MODEL_VERSION,
    SHOP_ID,
    amount,
    customer_id,
)
from plugin.api.signed_links import BLOCK_LINK_DAYS, CLICK_LINK_DAYS, block_url, expiry, link_secret
from plugin.engine import queries
from plugin.engine.lifecycle import shop_stage_table
from plugin.engine.serving import serve_many
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.openapi import (
    COMPONENTS,
    Answer,
    Operation,
    Param,
    array,
    documented,
    integer,
    named,
    nullable,
    obj,
    string,
)
from plugin.web.params import BadRequest, parse_bool, parse_int
from plugin.web.responses import json_bytes
from plugin.web.spreadsheet import attachment_name, spreadsheet_cell
from recommender.lifecycle import STAGES, CustomerStage, StageTable, iso

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DEFAULT_PRODUCTS = 4
CUSTOMER_COLUMNS = ("customer_id", "stage", "recency_days", "frequency", "monetary", "currency",
                    "r", "f", "m", "churn_risk", "expected_next_order", "email_block_url")
PRODUCT_COLUMNS = ("id", "title", "price", "url", "image_url", "reason")


@dataclass(frozen=True)
class FeedQuery:
    stage: str  # one of STAGES or "all"
    as_of: float
    limit: int | None  # None: every customer (CSV export)
    after: str | None  # the last customer id of the previous page
    products: int
    exclude_purchased: bool


def parse_feed_query(params: QueryParams, as_csv: bool) -> FeedQuery:
    stage = params.get("stage", "all")
    if stage != "all" and stage not in STAGES:
        raise BadRequest(f"stage must be all or one of {', '.join(STAGES)}, got {stage!r}")
    raw_limit = params.get("limit")
    limit = None if as_csv and raw_limit is None else parse_int(
        "limit", raw_limit, DEFAULT_LIMIT, 1, MAX_LIMIT)
    query = FeedQuery(
        stage=stage, as_of=parse_as_of(params.get("as_of")), limit=limit, after=None,
        products=parse_int("products", params.get("products"), DEFAULT_PRODUCTS, 1, MAX_PRODUCTS),
        exclude_purchased=parse_bool("exclude_purchased", params.get("exclude_purchased")),
    )
    raw_cursor = params.get("cursor")
    if raw_cursor is None:
        return query
    as_of, cursor_stage, after = decode_cursor(raw_cursor)
    if cursor_stage != stage:
        raise BadRequest(f"this cursor walks stage {cursor_stage!r}, not {stage!r}: keep the "
                         "parameters of the first page")
    if params.get("as_of") is not None and query.as_of != as_of:
        raise BadRequest("this cursor walks another as_of: keep the parameters of the first page "
                         "(or leave as_of out)")
    return replace(query, as_of=as_of, after=after)


def encode_cursor(query: FeedQuery, after: str) -> str:
    raw = json.dumps({"as_of": query.as_of, "stage": query.stage, "after": after},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(raw: str) -> tuple[float, str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        as_of, stage, after = data["as_of"], data["stage"], data["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise BadRequest("cursor is not one this feed gave: pass next_cursor unchanged") from None
    if not (isinstance(as_of, int | float) and math.isfinite(as_of) and isinstance(stage, str)
            and isinstance(after, str)):
        raise BadRequest("cursor is not one this feed gave: pass next_cursor unchanged")
    return float(as_of), stage, after


def wants_csv(request: Request) -> bool:
    fmt = request.query_params.get("format")
    if fmt is None:
        return "text/csv" in request.headers.get("accept", "")
    if fmt not in {"json", "csv"}:
        raise BadRequest(f"format must be json or csv, got {fmt!r}")
    return fmt == "csv"


def customers_of(stages: StageTable, query: FeedQuery) -> list[int]:
    """The rows of the stage's customers after the cursor, in feed order."""
    return stages.of_stage(None if query.stage == "all" else query.stage, query.after).tolist()


class Recommender:
    """The personal query of the API (queries.Personal) for a page of customers at once: one
    model and one merchandising filter per page."""

    def __init__(self, request: Request, shop: Shop, query: FeedQuery) -> None:
        self.state, self.shop, self.query = request.app.state, shop, query
        self.public_url: str = request.app.state.settings.public_url
        self.click_exp, self.block_exp = expiry(CLICK_LINK_DAYS), expiry(BLOCK_LINK_DAYS)
        self.model_version: str | None = None

    async def items(self, stages: Sequence[CustomerStage]) -> list[dict[str, Any]]:
        redis, shop_id = self.state.redis, self.shop.shop_id
        secret = await link_secret(redis, shop_id)
        products = await self._products([s.customer_id for s in stages])
        found = []
        for stage in stages:
            customer_id = stage.customer_id
            shown = [item | email_fields(item, self.shop, secret, self.public_url, customer_id,
                                         self.click_exp) for item in products[customer_id]]
            link = block_url(self.public_url, secret, shop_id, customer_id, self.query.products,
                             self.query.exclude_purchased, "", self.block_exp)
            found.append(stage_fields(stage, self.shop.currency) | {
                "email_block_url": link, "products": shown})
        return found

    async def _products(self, customer_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        cache, shop_id, feed = self.state.cache, self.shop.shop_id, self.query
        asked = await queries.personals(cache, shop_id, customer_ids, feed.products,
                                        feed.exclude_purchased)
        self.model_version, items = await serve_many(cache, shop_id, self.shop.currency, asked)
        return dict(zip(customer_ids, items, strict=True))


def stage_fields(stage: CustomerStage, currency: str) -> dict[str, Any]:
    return {
        "customer_id": stage.customer_id, "stage": stage.stage,
        "recency_days": round(stage.recency_days, 2), "frequency": stage.frequency,
        "monetary": amount(stage.monetary, currency), "currency": currency,
        "r": stage.r, "f": stage.f, "m": stage.m, "churn_risk": round(stage.churn_risk, 4),
        "expected_next_order": iso(stage.expected_next_order),
    }


# ---- the reference ------------------------------------------------------------------------------

RECOMMENDED = COMPONENTS[ITEM["$ref"].rpartition("/")[2]]  # the API's item, closed: copied
PRODUCT = named("NurtureProduct", obj(
    "A product of the personal recommendation call with what an e-mail needs beside it.",
    {**RECOMMENDED["properties"], **EMAIL_FIELDS},
    optional=[name for name in RECOMMENDED["properties"] if name not in RECOMMENDED["required"]],
))
SCORES = customer_scores()
CUSTOMER = named("NurtureCustomer", obj(
    "A customer of the feed: stage and scores (recency_days rounded to 2 places, monetary to "
    "the currency's minor unit, churn_risk to 4), the e-mail block's link and the products to "
    "show.", {
        "customer_id": customer_id(),
        **{name: SCORES[name] for name in ("stage", "recency_days", "frequency", "monetary")},
        "currency": CURRENCY,
        **{name: SCORES[name] for name in ("r", "f", "m", "churn_risk", "expected_next_order")},
        "email_block_url": string(
            f"The signed URL of the customer's e-mail block (HTML of the same products; no API "
            f"key; valid {BLOCK_LINK_DAYS} days).", BLOCK_URL_EXAMPLE, format="uri"),
        "products": array(PRODUCT, "What the personal recommendation call shows them, best "
                          "first: at most `products`; empty before the first model.",
                          maxItems=MAX_PRODUCTS),
    }))
STAGE_OR_ALL = string("A lifecycle stage, or all: every customer.", "at_risk",
                      enum=["all", *STAGES])
CURSOR_EXAMPLE = ("eyJhc19vZiI6MTc1MTMyNzk5OS45OTksInN0YWdlIjoiYXRfcmlzayIsImFmdGVyIjoiMjA3MTE5"
                  "NTUxIn0")
FEED = obj("A page of the feed.", {
    "shop_id": SHOP_ID,
    "stage": STAGE_OR_ALL,
    "as_of": string("The instant the stages are for (UTC): as_of, or the first page's.",
                    "2025-06-30T23:59:59.999Z", format="date-time"),
    "model_version": MODEL_VERSION,
    "items": array(CUSTOMER, "At most `limit` customers of the stage, by customer id (as "
                             "text)."),
    "next_cursor": nullable(string("Pass it as `cursor` for the next page; null on the last.",
                                   CURSOR_EXAMPLE)),
})
CSV_COLUMNS = (f"{', '.join(CUSTOMER_COLUMNS)}, then product_N_{{"
               f"{', '.join(PRODUCT_COLUMNS)}}} for N = 1..`products`")


@documented(Operation(
    "GET", "nurtureFeed", "Customers of a stage with their recommendations, for e-mail tools",
    "Nurture", {200: Answer(
        "A page of customers as JSON; with format=csv (or Accept: text/csv and no format) a CSV "
        "download (text/csv; charset=utf-8) instead, one row per customer with the columns "
        f"{CSV_COLUMNS} (product_N_url: the tracked link, product_N_price: the formatted price; "
        "text cells that a spreadsheet would run start with '). A CSV page has the next "
        "cursor in the X-Next-Cursor header and a Link rel=\"next\".", FEED,
        also={"text/csv": string("The CSV page: a header row, then one row per customer.",
                                 f"{','.join(CUSTOMER_COLUMNS)},product_1_id,...")},
        headers={
            "X-Next-Cursor": string("CSV pages: the cursor of the next page (absent on the "
                                    "last).", CURSOR_EXAMPLE),
            "Link": string('CSV pages: the next page\'s URL, rel="next" (absent on the last).',
                           '<https://reco.example.com/api/v1/shops/my-shop/lifecycle/feed?'
                           'format=csv&limit=100&cursor=eyJ...>; rel="next"'),
        })}, SCOPE,
    description="Each customer with the products the personal recommendation call would show "
                "them and a signed e-mail block link. Pages follow customer ids; a cursor keeps "
                "the first page's as_of, so a walk sees the same stages.",
    params=(
        Param("stage", {**STAGE_OR_ALL, "description": "Which customers (default all)."}),
        Param("as_of", {**AS_OF.schema, "description": AS_OF.schema["description"]
                        + " With a cursor, leave it out (or repeat the first page's)."}),
        Param("limit", integer(f"Customers per page (default {DEFAULT_LIMIT}; CSV without it: "
                               "every customer).", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)),
        Param("cursor", string("next_cursor of the previous page, unchanged (with the same "
                               "stage).", CURSOR_EXAMPLE)),
        Param("products", integer(f"Products per customer at most (default {DEFAULT_PRODUCTS}).",
                                  DEFAULT_PRODUCTS, minimum=1, maximum=MAX_PRODUCTS)),
        EXCLUDE_PURCHASED,
        Param("format", string("json (default) or csv; without it, an Accept header naming "
                               "text/csv asks for CSV.", "json", enum=["json", "csv"])),
    ),
))
@authorized
async def nurture_feed(request: Request, shop: Shop) -> Response:
    """GET .../lifecycle/feed?stage&as_of&limit&cursor&products&exclude_purchased&format"""
    as_csv = wants_csv(request)
    query = parse_feed_query(request.query_params, as_csv)
    stages = await shop_stage_table(request.app.state.redis, shop.shop_id, query.as_of)
    rows = customers_of(stages, query)
    page = [stages.row(row) for row in (rows if query.limit is None else rows[:query.limit])]
    next_cursor = encode_cursor(query, page[-1].customer_id) if len(page) < len(rows) else None
    recommender = Recommender(request, shop, query)
    if as_csv:
        return csv_response(request, shop, query, page, recommender, next_cursor)
    items = await recommender.items(page)
    return Response(json_bytes({
        "shop_id": shop.shop_id, "stage": query.stage, "as_of": iso(query.as_of),
        "model_version": recommender.model_version, "items": items, "next_cursor": next_cursor,
    }), media_type="application/json")


def csv_header(products: int) -> list[str]:
    return [*CUSTOMER_COLUMNS, *(f"product_{n}_{column}" for n in range(1, products + 1)
                                 for column in PRODUCT_COLUMNS)]


def csv_row(item: Mapping[str, Any], products: int) -> list[Any]:
    """One row per customer; product_N_url is the tracked link, _price the formatted price.
    Every text cell, ids included, is spreadsheet-safe (`spreadsheet_cell`)."""
    row = [item[column] for column in CUSTOMER_COLUMNS]
    shown = item["products"]
    for n in range(products):
        row += product_cells(shown[n]) if n < len(shown) else [None] * len(PRODUCT_COLUMNS)
    return [spreadsheet_cell(value) for value in row]


def product_cells(product: Mapping[str, Any]) -> list[Any]:
    """The PRODUCT_COLUMNS of one product, in order."""
    return [product["product_id"], product.get("title"), product["display_price"],
            product["click_url"], product["email_image_url"], product["reason"]]


def csv_response(
    request: Request, shop: Shop, query: FeedQuery, page: list[CustomerStage],
    recommender: Recommender, next_cursor: str | None,
) -> Response:
    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(csv_header(query.products))
        for start in range(0, max(len(page), 1), MAX_LIMIT):
            for item in await recommender.items(page[start:start + MAX_LIMIT]):
                writer.writerow(csv_row(item, query.products))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    filename = attachment_name("shopreco", shop.shop_id, query.stage)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
        params = urlencode({**request.query_params, "cursor": next_cursor})
        next_url = f"{request.app.state.settings.public_url}{request.url.path}?{params}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)


routes = [Route("/api/v1/shops/{shop_id}/lifecycle/feed", nurture_feed)]
