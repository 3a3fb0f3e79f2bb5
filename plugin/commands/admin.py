"""`shopreco admin login-link SHOP_ID [--minutes 15]`: a one-time link to the shop's
dashboard."""

from __future__ import annotations

import argparse

from plugin.admin.sessions import LINK_MINUTES, login_link
from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.store.connection import open_redis
from plugin.store.shops import ShopError, get_shop


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("admin", help="the store owner's dashboard at /admin/")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    link = actions.add_parser("login-link", help="print a one-time sign-in link")
    link.add_argument("shop_id")
    link.add_argument("--minutes", type=int, default=LINK_MINUTES,
                      help=f"how long the link works (default {LINK_MINUTES}, at most 1440)")
    link.set_defaults(command=cmd_login_link)


async def cmd_login_link(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.minutes <= 1440:
        raise ShopError("--minutes must be from 1 to 1440")
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r} is registered here")
        print(await login_link(redis, settings.public_url, args.shop_id, args.minutes))
    return 0
