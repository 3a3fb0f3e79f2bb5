"""`shopreco shops add|list|new-api-key|origins|rate-limit`: register shops and manage their
keys, widget origins and API rate limit."""

from __future__ import annotations

import argparse

from plugin.commands import Subparsers, print_json
from plugin.config import Secret, Settings
from plugin.store.connection import open_redis
from plugin.store.shops import (
    DEFAULT_LOCALE,
    PLATFORMS,
    PlatformAccess,
    ShopError,
    add_shop,
    allowed_origins,
    change_origins,
    get_shop,
    issue_api_key,
    list_shops,
    set_api_rate,
)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    shops = sub.add_parser("shops", help="register and list shops").add_subparsers(
        required=True, metavar="ACTION"
    )
    add = shops.add_parser("add", help="register a shop and print its keys (shown once)")
    add.add_argument("shop_id")
    add.add_argument("--platform", required=True, choices=PLATFORMS)
    add.add_argument("--domain", required=True, help="the shop's domain as the platform sends it")
    add.add_argument("--webhook-secret", help="use this secret instead of generating one")
    add.add_argument("--storefront-url", help="base URL of product pages (default https://DOMAIN)")
    add.add_argument("--currency", default="USD")
    add.add_argument("--locale", default=DEFAULT_LOCALE,
                     help="language tag for widget prices and text (default %(default)s)")
    add.add_argument("--origin", action="append", default=[],
                     help="a storefront origin (https://HOST[:PORT]) whose pages may call the "
                          "widget API besides https://DOMAIN; repeatable")
    add.add_argument("--store-id", default="",
                     help="the platform's store id (Ecwid storeId, BigCommerce store hash)")
    add.add_argument("--api-base", default="",
                     help="platform API root (WooCommerce: https://SHOP/wp-json/wc/v3)")
    add.add_argument("--api-user", default="", help="WooCommerce REST consumer key")
    add.add_argument("--api-token", default="",
                     help="platform API token (WooCommerce: consumer secret)")
    add.set_defaults(command=cmd_add)
    listing = shops.add_parser("list", help="list registered shops (no secrets)")
    listing.set_defaults(command=cmd_list)
    rotate = shops.add_parser("new-api-key", help="replace a shop's API key and print it")
    rotate.add_argument("shop_id")
    rotate.set_defaults(command=cmd_new_key)
    origins = shops.add_parser("origins", help="list, add or remove a shop's widget origins")
    origins.add_argument("shop_id")
    origins.add_argument("--add", action="append", default=[], metavar="URL")
    origins.add_argument("--remove", action="append", default=[], metavar="URL")
    origins.set_defaults(command=cmd_origins)
    rate = shops.add_parser("rate-limit", help="show or set the calls a minute each of a shop's "
                                               "API keys may make")
    rate.add_argument("shop_id")
    given = rate.add_mutually_exclusive_group()
    given.add_argument("--per-minute", type=int, metavar="N",
                       help="allow N calls a minute per API key (more: 429 with Retry-After)")
    given.add_argument("--default", action="store_true",
                       help="use the server's SHOPRECO_API_RATE_PER_MINUTE again")
    rate.set_defaults(command=cmd_rate_limit)


async def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        new = await add_shop(
            redis, args.shop_id, args.platform, args.domain, settings.public_url,
            webhook_secret=args.webhook_secret, storefront_url=args.storefront_url,
            currency=args.currency, locale=args.locale, origins=args.origin,
            access=PlatformAccess(store_ref=args.store_id, api_base=args.api_base,
                                  api_user=args.api_user, api_token=Secret(args.api_token)),
        )
    print_json(new.as_public_json())
    return 0


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        shops = await list_shops(redis)
    print_json([
        {"shop_id": s.shop_id, "platform": s.platform, "domain": s.domain,
         "widget_key": s.widget_key, "storefront_url": s.storefront_url,
         "currency": s.currency, "locale": s.locale, "origins": list(s.origins)}
        for s in shops
    ])
    return 0


async def cmd_new_key(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        api_key = await issue_api_key(redis, args.shop_id)
    print_json({"shop_id": args.shop_id, "api_key": api_key})
    return 0


async def cmd_origins(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        changed = await change_origins(redis, args.shop_id, args.add, args.remove)
        shop = await get_shop(redis, args.shop_id)
    allowed = sorted(allowed_origins(shop)) if shop else list(changed)
    print_json({"shop_id": args.shop_id, "origins": list(changed), "allowed": allowed})
    return 0


async def cmd_rate_limit(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        if args.per_minute is not None or args.default:
            await set_api_rate(redis, args.shop_id, None if args.default else args.per_minute)
        shop = await get_shop(redis, args.shop_id)
    if shop is None:
        raise ShopError(f"shop {args.shop_id!r} does not exist")
    own = shop.api_rate_per_minute
    print_json({"shop_id": shop.shop_id,
                "api_rate_per_minute": settings.api_rate_per_minute if own is None else own,
                "set_by": "SHOPRECO_API_RATE_PER_MINUTE" if own is None else "shop"})
    return 0
