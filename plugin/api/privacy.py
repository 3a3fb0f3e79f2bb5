"""The privacy interfaces over plugin.privacy: API routes (data requests, a customer's export
and erasure) and the `shopreco privacy export` / `shopreco erase` commands."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.config import Settings
from plugin.store import privacy
from plugin.store.connection import open_redis
from plugin.store.shops import Shop, ShopError, get_shop
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
    erasure = await privacy.erase_customer(
        request.app.state.redis, shop.shop_id, customer_id,
        parse_email(request.query_params.get("email")),
        parse_order_ids(request.query_params.get("order_ids")),
    )
    await request.app.state.models.get(shop.shop_id)  # this process serves the cleaned model now
    return JSONResponse(
        {"shop_id": shop.shop_id, "customer_id": customer_id, "erased": asdict(erasure)}
    )


routes = [
    Route(f"{PREFIX}/privacy/requests/{{request_id}}", data_request),
    Route(f"{PREFIX}/customers/{{customer_id}}/data", customer_data),
    Route(f"{PREFIX}/customers/{{customer_id}}", erase_customer, methods=["DELETE"]),
]


# ---- command line ------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `shopreco privacy export` and `shopreco erase` to the CLI."""
    actions = sub.add_parser(
        "privacy", help="what shopreco holds about a customer"
    ).add_subparsers(required=True, metavar="ACTION")
    export = actions.add_parser("export", help="print everything held about a customer (JSON)")
    export.add_argument("shop_id")
    export.add_argument("--customer", required=True, help="the platform's customer id")
    export.add_argument("--email", help="also find events naming this e-mail (guest orders)")
    export.set_defaults(command=cmd_export)

    erase = sub.add_parser("erase", help="erase a customer's data now, or a whole shop")
    erase.add_argument("shop_id")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="erase this customer (platform customer id)")
    who.add_argument("--shop", action="store_true",
                     help="erase the whole shop: all its data, keys and registration")
    erase.add_argument("--email", help="also erase events naming this e-mail (guest orders)")
    erase.add_argument("--yes", action="store_true", help="confirm --shop")
    erase.set_defaults(command=cmd_erase)


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        await _require_shop(redis, args.shop_id)
        export = await privacy.export_customer(redis, args.shop_id, args.customer,
                                                parse_email(args.email))
    print(json.dumps(export, indent=2))
    return 0


async def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    if args.shop and not args.yes:
        print(f"shopreco: erasing shop {args.shop_id!r} deletes all its data and its "
              "registration for good; add --yes to confirm", file=sys.stderr)
        return 2
    async with open_redis(settings) as redis:
        if args.shop:
            erased = await privacy.erase_shop(redis, args.shop_id)
            result: dict[str, object] = {"shop_id": args.shop_id, "erased": erased}
        else:
            await _require_shop(redis, args.shop_id)
            erasure = await privacy.erase_customer(redis, args.shop_id, args.customer,
                                                   parse_email(args.email))
            result = {"shop_id": args.shop_id, "customer_id": args.customer,
                      "erased": asdict(erasure)}
    print(json.dumps(result, indent=2))
    return 0


async def _require_shop(redis: aioredis.Redis, shop_id: str) -> None:
    if await get_shop(redis, shop_id) is None:
        raise ShopError(f"no shop {shop_id!r}; see `shopreco shops list`")
