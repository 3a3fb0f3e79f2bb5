"""The privacy API: stored data requests, a customer's export and their erasure (plugin.store
privacy and erasure do the work)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.store import erasure, privacy
from plugin.store.shops import Shop
from plugin.web.auth import authorized
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


@authorized
async def data_request(request: Request, shop: Shop) -> Response:
    request_id = request.path_params["request_id"]
    export = await privacy.get_data_request(request.app.state.redis, shop.shop_id, request_id)
    if export is None:
        return problem(404, f"shop {shop.shop_id!r} has no data request {request_id!r}; an "
                            "export is kept for 30 days after Shopify's customers/data_request")
    return JSONResponse(export)


@authorized
async def customer_data(request: Request, shop: Shop) -> Response:
    email = parse_email(request.query_params.get("email"))
    export = await privacy.export_customer(
        request.app.state.redis, shop.shop_id, request.path_params["customer_id"], email,
        parse_order_ids(request.query_params.get("order_ids")),
    )
    return JSONResponse(export)


@authorized
async def erase_customer(request: Request, shop: Shop) -> Response:
    customer_id = request.path_params["customer_id"]
    erased = await erasure.erase_customer(
        request.app.state.redis, shop.shop_id, customer_id,
        parse_email(request.query_params.get("email")),
        parse_order_ids(request.query_params.get("order_ids")),
    )
    await request.app.state.cache.reload_model(shop.shop_id)  # it serves here now
    return JSONResponse(
        {"shop_id": shop.shop_id, "customer_id": customer_id, "erased": asdict(erased)}
    )


routes = [
    Route(f"{PREFIX}/privacy/requests/{{request_id}}", data_request),
    Route(f"{PREFIX}/customers/{{customer_id}}/data", customer_data),
    Route(f"{PREFIX}/customers/{{customer_id}}", erase_customer, methods=["DELETE"]),
]




