"""`shopreco admin login-link SHOP_ID [--minutes 15]`: a one-time link to the shop's
dashboard. `shopreco admin set-password SHOP_ID` (the password from the terminal, or the first
line of standard input) and `shopreco admin clear-password SHOP_ID`: the owner's optional
password sign-in (plugin.admin.passwords)."""

from __future__ import annotations

import argparse
import getpass
import sys

from plugin.admin.passwords import PasswordRefused, clear_password, set_password
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
    setting = actions.add_parser("set-password", help="let the owner sign in with a password "
                                 "too (asked for, or read from standard input)")
    setting.add_argument("shop_id")
    setting.set_defaults(command=cmd_set_password)
    clearing = actions.add_parser("clear-password", help="turn password sign-in off")
    clearing.add_argument("shop_id")
    clearing.set_defaults(command=cmd_clear_password)


async def cmd_login_link(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.minutes <= 1440:
        raise ShopError("--minutes must be from 1 to 1440")
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r} is registered here")
        print(await login_link(redis, settings.public_url, args.shop_id, args.minutes))
    return 0


def read_password() -> str:
    """Twice from the terminal (not echoed), or the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise PasswordRefused("the two passwords differ")
    return first


async def cmd_set_password(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password()
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r} is registered here")
        await set_password(redis, args.shop_id, password)
    print(f"password sign-in is on for {args.shop_id} (/admin/signin)")
    return 0


async def cmd_clear_password(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r} is registered here")
        had = await clear_password(redis, args.shop_id)
    print(f"password sign-in is off for {args.shop_id}" + ("" if had else " (it had none)"))
    return 0
