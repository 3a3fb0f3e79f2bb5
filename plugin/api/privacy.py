"""The privacy API: stored data requests, a customer's export and their erasure (plugin.store
privacy and erasure do the work)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.schemas import CURRENCY, CUSTOMER_ID, SHOP_ID, customer_id, product_id
from plugin.store import erasure, privacy
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    Schema,
    array,
    boolean,
    documented,
    integer,
    named,
    nullable,
    number,
    obj,
    path_param,
    string,
)
from plugin.web.params import BadRequest, parse_id
from plugin.web.problems import problem


def parse_email(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if "@" not in raw:
        raise BadRequest(f"email must be an e-mail address, got {raw!r}")
    return raw


def parse_order_ids(raw: str | None) -> list[str]:
    """`order_ids=1,2,3` as ["1", "2", "3"]."""
    return [parse_id("order_ids[]", part.strip()) for part in raw.split(",")] if raw else []


# ---- the reference (plugin.web.openapi) ---------------------------------------------------------

TAG = "Privacy"
SCOPE = "privacy"


def amount(description: str, example: str) -> Schema:
    """A decimal string, as the order store keeps amounts (Python's Decimal as text)."""
    return string(f"{description} A decimal string in the order's currency.", example,
                  pattern=r"^-?\d+(\.\d+)?(E[+-]?\d+)?$")


def entry_text(description: str, example: str) -> Schema:
    return string(f"{description} (The stream field as text.)", example)


ORDER = named("ExportedOrder", obj("A stored order of the customer, as the store keeps it.", {
    "order_id": string("The order's id on the shop's platform.", "450789469"),
    "customer_id": nullable(customer_id("Its customer; null for a guest checkout (found by "
                                        "the e-mail or the order ids given).")),
    "created_at": number("When it was placed: Unix seconds.", 1750000000.0),
    "updated_at": number("Its last update on the platform: Unix seconds.", 1750000600.0),
    "cancelled": boolean("It counts for nothing (cancelled, fully refunded or never paid).",
                         False),
    "currency": CURRENCY,
    "total_price": amount("The order's total.", "25.00"),
    "lines": array(obj("One line of the order.", {
        "product_id": product_id(),
        "variant_id": nullable(string("The variant bought, where the platform has variants.",
                                      "808950810")),
        "title": string("The line's title as ordered.", "Blue mug"),
        "quantity": integer("Units ordered.", 2, minimum=0),
        "price": amount("The unit price.", "10.00"),
        "line_id": nullable(string("The platform's line item id (refunds name lines by it).",
                                   "866550311766439020")),
    }), "The order's lines."),
    "refunds": array(obj("Units of one line given back by one refund.", {
        "refund_id": string("The refund's id on the platform.", "509562969"),
        "line_id": string("The refunded line's `line_id`.", "866550311766439020"),
        "quantity": integer("Units given back.", 1, minimum=0),
    }), "What refunds gave back, line by line."),
}))
EVENT_FIELDS: dict[str, Schema] = {
    "entry_id": string("The entry's id in the shop's event stream.", "1750000000000-0"),
    "platform": entry_text("The platform that sent the webhook.", "shopify"),
    "topic": entry_text("The webhook's topic.", "orders/create"),
    "delivery_id": entry_text("The platform's id of the delivery.",
                              "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    "received_at": entry_text("When it was accepted: Unix seconds.", "1750000000.123"),
    "triggered_at": entry_text("When the platform says it happened (empty: not sent).",
                               "2025-06-15T15:06:40Z"),
    "api_version": entry_text("The platform's API version (empty: not sent).", "2025-01"),
    "body": {"description": "The webhook's body: its JSON value, or its text when it is not "
                            "JSON.",
             "examples": [{"id": 450789469, "email": "ann@example.com"}]},
    "order": entry_text("The normalised order the receiver made of the body, as JSON text "
                        "(order webhooks only).", '{"order_id":"450789469"}'),
    "replays": entry_text("How many times it was replayed from the dead letters.", "1"),
}
EVENT = named("ExportedEvent", obj(
    "A raw webhook event of the shop's event stream that names the customer.", EVENT_FIELDS,
    optional=("order", "replays")))
DEAD_LETTER = named("ExportedDeadLetter", obj(
    "A webhook event the worker gave up on, that names the customer: the event's fields and "
    "the failure's.", {
        **EVENT_FIELDS,
        "entry_id": string("The entry's id in the shop's dead-letter stream.",
                           "1750000100000-0"),
        "event_id": entry_text("The failed event's id in the event stream.", "1750000000000-0"),
        "error": entry_text("Why it failed.", "PayloadError: line_items must be a list"),
        "attempts": entry_text("How many times the worker tried it.", "1"),
    }, optional=("order", "replays")))
VISITOR = string("A visitor (a browser or session) linked to them: the storefront's token "
                 "sent with their customer id in browsing events, or the widget's.",
                 "9f3c2a71d04b4e59a8e3c1b2f6d7e8a0")
BROWSING = named("ExportedBrowsing", obj(
    "One linked visitor's browsing history (POST .../events, the storefront widget): the "
    "products they viewed or added to a cart, newest first.", {
        "visitor_id": VISITOR,
        "products": array(obj("A product of the history.", {
            "product_id": product_id(),
            "at": number("Their latest view of it or add to cart (the history keeps one time "
                         "per product, not which of the two): Unix seconds.", 1750000000.0),
        }), "The products held (at most 50, none kept past 30 days)."),
    }))
CLICK = named("ExportedWidgetClick", obj("A click on a recommended product.", {
    "visitor_id": nullable({**VISITOR, "description": "The linked visitor who clicked; null: "
                                                      "the customer, signed in."}),
    "placement": string("Where it was shown (a widget placement, or email).", "bundle"),
    "product_id": product_id(),
    "at": number("When: Unix seconds.", 1750000000.0),
}))
EXPORT_FIELDS: dict[str, Schema] = {
    "shop_id": SHOP_ID,
    "customer_id": customer_id("The customer exported."),
    "email": nullable(string("Their e-mail as given (lower-case); null: none given.",
                             "ann@example.com")),
    "exported_at": number("When the export was made: Unix seconds.", 1750000000.5),
    "orders": array(ORDER, "Their stored orders (theirs, those of events naming them and "
                           "those asked about), oldest first."),
    "events": array(EVENT, "The raw webhook events naming them, oldest first."),
    "dead_letters": array(DEAD_LETTER, "The dead letters naming them, oldest first."),
    "browsing": array(BROWSING, "The browsing histories of the visitors linked to them, by "
                      "visitor id."),
    "widget_clicks": array(CLICK, "Their clicks on recommended products, and those of the "
                           "visitors linked to them, kept for attribution; oldest first per "
                           "visitor (theirs first)."),
    "experiments": array(obj("An experiment they are in.", {
        "experiment_id": string("The experiment.", "exp_0123456789ab"),
        "name": string("Its name.", "Bundle against none"),
        "arm": string("Their arm: the one their first visitor (or they) were in.", "B"),
    }), "The A/B experiments that hold them (the arm they are kept in), oldest first."),
    "model": obj("The serving model's row for them.", {
        "version": nullable(string("The serving model's version; null before the first "
                                   "training.", "7")),
        "holds_customer": boolean("The model has a row for them.", True),
        "purchased_product_ids": array(product_id(), "The products the row holds as bought.",
                                       examples=[["632910392"]]),
    }),
    "not_personal": string("What else the shop's data holds, and why it is not theirs.",
                           privacy.NOT_PERSONAL),
}
EXPORT = named("CustomerExport", obj("Everything held about one customer.", EXPORT_FIELDS))
DATA_REQUEST = named("DataRequestExport", obj(
    "A data request's export: everything held about the customer when it arrived.",
    {"request_id": string("The data request's id (Shopify's `data_request.id`).", "9999"),
     **EXPORT_FIELDS}))
EMAIL = Param("email", string("The customer's e-mail, to find their guest orders too (empty: "
                              "none).", "ann@example.com", pattern="^$|@"))
ORDER_IDS = Param("order_ids", string("More orders of theirs, comma-separated ids (for example "
                                      "guest checkouts the shop knows are theirs).",
                                      "450789469,450789470"))
ERASED = obj("What was erased.", {
    "shop_id": SHOP_ID,
    "customer_id": customer_id("The customer erased."),
    "erased": obj("What the erasure removed, by kind.", {
        "orders": integer("Stored orders.", 2, minimum=0),
        "events": integer("Raw webhook events naming them.", 3, minimum=0),
        "dead_letters": integer("Dead letters naming them.", 0, minimum=0),
        "other": integer("Fields, members or keys of other per-shop data (pending refunds, "
                         "kept exports, widget clicks).", 1, minimum=0),
        "model_rows": integer("Stored model versions that held a row for them.", 1, minimum=0),
        "model_versions_deleted": integer("Model versions deleted (every one but the cleaned "
                                          "copy).", 1, minimum=0),
        "model_version": nullable(string("The cleaned model version serving since; null: no "
                                         "model needed cleaning.", "8")),
    }),
})


@documented(Operation(
    "GET", "getDataRequest", "A data request's export", TAG,
    {200: Answer("The export kept for the request.", DATA_REQUEST)}, SCOPE,
    description="The export made when Shopify's customers/data_request arrived, kept 30 days.",
    params=(path_param("request_id", "The data request's id (Shopify's `data_request.id`).",
                       "9999"),),
    errors=(400, 401, 403, 404),
))
@authorized
async def data_request(request: Request, shop: Shop) -> Response:
    request_id = parse_id("request_id", request.path_params["request_id"])
    export = await privacy.get_data_request(request.app.state.redis, shop.shop_id, request_id)
    if export is None:
        return problem(404, f"shop {shop.shop_id!r} has no data request {request_id!r}; an "
                            "export is kept for 30 days after Shopify's customers/data_request")
    return JSONResponse(export)


@documented(Operation(
    "GET", "exportCustomer", "Everything held about a customer", TAG,
    {200: Answer("The customer's export.", EXPORT)}, SCOPE,
    description="Their stored orders, the raw webhook events and dead letters naming them, the "
                "browsing histories and widget clicks of the visitors linked to them (browsing "
                "events or widget events sent with their customer id) and their own clicks, "
                "and the serving model's row for them (the catalog and the model's aggregates "
                "hold no identity). A customer the shop has never seen gets an empty export.",
    params=(CUSTOMER_ID, EMAIL, ORDER_IDS), errors=(400, 401, 403, 404),
))
@authorized
async def customer_data(request: Request, shop: Shop) -> Response:
    email = parse_email(request.query_params.get("email"))
    export = await privacy.export_customer(
        request.app.state.redis, shop.shop_id,
        parse_id("customer_id", request.path_params["customer_id"]), email,
        parse_order_ids(request.query_params.get("order_ids")),
    )
    return JSONResponse(export)


@documented(Operation(
    "DELETE", "eraseCustomer", "Erase a customer now", TAG,
    {200: Answer("What was erased.", ERASED)}, SCOPE,
    description="Their orders (and those of `order_ids`), the events and dead letters naming "
                "them, any other data naming them and their rows in every stored model (a "
                "cleaned copy serves at once); the shop is marked for retraining so the "
                "aggregates are rebuilt without them. Erasing again erases nothing more.",
    params=(CUSTOMER_ID, EMAIL, ORDER_IDS), errors=(400, 401, 403, 404),
))
@authorized
async def erase_customer(request: Request, shop: Shop) -> Response:
    customer_id = parse_id("customer_id", request.path_params["customer_id"])
    erased = await erasure.erase_customer(
        request.app.state.redis, shop.shop_id, customer_id,
        parse_email(request.query_params.get("email")),
        parse_order_ids(request.query_params.get("order_ids")),
    )
    await request.app.state.cache.reload_model(shop.shop_id)  # it serves here now
    request.app.state.cache.visitors.forget(shop.shop_id)  # here at once, elsewhere by a note
    return JSONResponse(
        {"shop_id": shop.shop_id, "customer_id": customer_id, "erased": asdict(erased)}
    )


routes = [
    Route(f"{PREFIX}/privacy/requests/{{request_id}}", data_request),
    Route(f"{PREFIX}/customers/{{customer_id}}/data", customer_data),
    Route(f"{PREFIX}/customers/{{customer_id}}", erase_customer, methods=["DELETE"]),
]
