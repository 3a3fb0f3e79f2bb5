"""`shopreco privacy export` and `shopreco erase`: a customer's data exported or erased, or a
whole shop erased."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

import redis.asyncio as aioredis

from plugin.api.privacy import parse_email
from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.store import erasure, privacy
from plugin.store.connection import open_redis
from plugin.store.shops import ShopError, get_shop


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
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
            erased = await erasure.erase_shop(redis, args.shop_id)
            result: dict[str, object] = {"shop_id": args.shop_id, "erased": erased}
        else:
            await _require_shop(redis, args.shop_id)
            removed = await erasure.erase_customer(redis, args.shop_id, args.customer,
                                                   parse_email(args.email))
            result = {"shop_id": args.shop_id, "customer_id": args.customer,
                      "erased": asdict(removed)}
    print(json.dumps(result, indent=2))
    return 0


async def _require_shop(redis: aioredis.Redis, shop_id: str) -> None:
    if await get_shop(redis, shop_id) is None:
        raise ShopError(f"no shop {shop_id!r}; see `shopreco shops list`")
