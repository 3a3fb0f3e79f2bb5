"""`shopreco keys list | create | rotate | revoke SHOP_ID`: a shop's API keys with scopes
(plugin.store.api_keys; the API's /keys calls and the dashboard's API keys page do the same).
A new key's secret is printed once."""

from __future__ import annotations

import argparse

from plugin.commands import Subparsers, print_json
from plugin.config import Settings
from plugin.store import api_keys
from plugin.store.api_keys import SCOPES
from plugin.store.connection import open_redis

DEFAULT_OVERLAP_HOURS = 24.0


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keys", help="a shop's API keys: list, create with scopes, rotate, "
                                         "revoke")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the shop's keys (never their secrets)")
    listing.add_argument("shop_id")
    listing.set_defaults(command=cmd_list)
    create = actions.add_parser("create", help="a new key; its secret is printed once")
    create.add_argument("shop_id")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument("--scope", action="append", required=True, dest="scopes",
                        choices=SCOPES, help="a scope it holds (repeat for more)")
    create.set_defaults(command=cmd_create)
    rotate = actions.add_parser("rotate", help="a new secret for a key; the old one keeps "
                                               "working for the overlap")
    rotate.add_argument("shop_id")
    rotate.add_argument("key_id", help="the key's id (`default`: the key `shops add` printed)")
    rotate.add_argument("--overlap-hours", type=float, default=DEFAULT_OVERLAP_HOURS,
                        help=f"how long the old secret still works (default "
                             f"{DEFAULT_OVERLAP_HOURS:g}; 0: it stops now)")
    rotate.set_defaults(command=cmd_rotate)
    revoke = actions.add_parser("revoke", help="stop a key now")
    revoke.add_argument("shop_id")
    revoke.add_argument("key_id")
    revoke.set_defaults(command=cmd_revoke)


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        print_json({"shop_id": args.shop_id, "keys": await api_keys.listed(redis, args.shop_id)})
    return 0


async def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        made = await api_keys.create_key(redis, args.shop_id, args.name, args.scopes)
    print_json({"shop_id": args.shop_id, "key": made.key.public(None), "api_key": made.secret})
    return 0


async def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        made = await api_keys.rotate_key(redis, args.shop_id, args.key_id,
                                         args.overlap_hours * 3600)
    print_json({"shop_id": args.shop_id, "key": made.key.public(None), "api_key": made.secret})
    return 0


async def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        revoked = await api_keys.revoke_key(redis, args.shop_id, args.key_id)
    print_json({"shop_id": args.shop_id, "revoked": revoked.public(None)})
    return 0
