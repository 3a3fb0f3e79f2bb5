"""The `shopreco` command line: serve, worker, shops, backfill, import, train, evaluate, privacy,
lifecycle."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from plugin.api import lifecycle
from plugin.api import privacy as privacy_api
from plugin.commands import evaluate as evaluation_cli
from plugin.commands import widgets as widgets_cli
from plugin.config import ConfigError, Secret, Settings
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
)
from webhooks import deadletters, importer
from webhooks.http import FetchError

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"shopreco: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    command: Command = args.command
    try:
        return asyncio.run(command(args, settings))
    except (ShopError, ValueError, FetchError) as error:
        print(f"shopreco: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopreco", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the plugin (API, webhooks, widgets, worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(command=cmd_serve)

    worker = sub.add_parser("worker", help="run only ingestion and retraining (scale-out)")
    worker.set_defaults(command=cmd_worker)

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
    add.set_defaults(command=cmd_shops_add)
    listing = shops.add_parser("list", help="list registered shops (no secrets)")
    listing.set_defaults(command=cmd_shops_list)
    rotate = shops.add_parser("new-api-key", help="replace a shop's API key and print it")
    rotate.add_argument("shop_id")
    rotate.set_defaults(command=cmd_shops_new_key)
    origins = shops.add_parser("origins", help="list, add or remove a shop's widget origins")
    origins.add_argument("shop_id")
    origins.add_argument("--add", action="append", default=[], metavar="URL")
    origins.add_argument("--remove", action="append", default=[], metavar="URL")
    origins.set_defaults(command=cmd_shops_origins)

    backfill = sub.add_parser("backfill", help="import a shop's order history from its platform")
    backfill.add_argument("shop_id")
    backfill.add_argument("--restart", action="store_true",
                          help="start from the beginning, not from the saved checkpoint")
    backfill.set_defaults(command=cmd_backfill)

    train = sub.add_parser("train", help="process pending events and train a shop's model now")
    train.add_argument("shop_id")
    train.add_argument("--retune", action="store_true",
                       help="choose the strategy again even if the current choice is recent")
    train.set_defaults(command=cmd_train)

    demo = sub.add_parser("demo", help="run the plugin with a demo shop and storefront")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--orders", type=int, default=6000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--exit-after-setup", action="store_true",
                      help="stop once the demo is trained and checked (for scripts and CI)")
    demo.set_defaults(command=cmd_demo)
    deadletters.register(sub)
    privacy_api.register(sub)
    importer.register(sub)
    evaluation_cli.register(sub)
    lifecycle.register(sub)
    widgets_cli.register(sub)
    return parser


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.server import serve

    await serve(settings, args.host, args.port)
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.worker import running_workers

    async with open_redis(settings) as redis, running_workers(redis, settings):
        print("shopreco worker running; Ctrl-C stops it", file=sys.stderr)
        await asyncio.Event().wait()
    return 0


async def cmd_shops_add(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        new = await add_shop(
            redis, args.shop_id, args.platform, args.domain, settings.public_url,
            webhook_secret=args.webhook_secret, storefront_url=args.storefront_url,
            currency=args.currency, locale=args.locale, origins=args.origin,
            access=PlatformAccess(store_ref=args.store_id, api_base=args.api_base,
                                  api_user=args.api_user, api_token=Secret(args.api_token)),
        )
    _print_json(new.as_public_json())
    return 0


async def cmd_shops_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        shops = await list_shops(redis)
    _print_json([
        {"shop_id": s.shop_id, "platform": s.platform, "domain": s.domain,
         "widget_key": s.widget_key, "storefront_url": s.storefront_url,
         "currency": s.currency, "locale": s.locale, "origins": list(s.origins)}
        for s in shops
    ])
    return 0


async def cmd_shops_new_key(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        api_key = await issue_api_key(redis, args.shop_id)
    _print_json({"shop_id": args.shop_id, "api_key": api_key})
    return 0


async def cmd_shops_origins(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        changed = await change_origins(redis, args.shop_id, args.add, args.remove)
        shop = await get_shop(redis, args.shop_id)
    allowed = sorted(allowed_origins(shop)) if shop else list(changed)
    _print_json({"shop_id": args.shop_id, "origins": list(changed), "allowed": allowed})
    return 0


async def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.progress import Progress
    from plugin.store.shops import get_shop
    from webhooks.backfill import BackfillError, run_backfill
    from webhooks.http import PlatformHttp
    from webhooks.platforms import BACKFILL_SOURCES

    async with open_redis(settings) as redis:
        shop = await get_shop(redis, args.shop_id)
        if shop is None:
            raise ShopError(f"no shop {args.shop_id!r}; see `shopreco shops list`")
        source = BACKFILL_SOURCES.get(shop.platform)
        if source is None:
            raise BackfillError(f"backfill is not available for {shop.platform} shops")
        progress = Progress("backfilling orders", None)

        def on_page(page: Any) -> None:
            progress.total = page.total
            progress.step(len(page.orders))

        http = PlatformHttp()
        try:
            result = await run_backfill(redis, http, shop, source, args.restart, on_page)
        finally:
            await http.aclose()
        progress.finish()
    _print_json({"shop_id": shop.shop_id, **vars(result)})
    return 0


async def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.engine.training import train_shop
    from webhooks.ingest import Ingestor

    async with open_redis(settings) as redis:
        await Ingestor(redis).drain(args.shop_id)
        info = await train_shop(redis, args.shop_id, tuning_seconds=settings.tuning_seconds,
                                retune=args.retune)
    _print_json({"shop_id": args.shop_id, "model_version": info.version, "model": info.meta})
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.demo.runner import run_demo

    return await run_demo(settings, args.host, args.port, args.orders, args.seed,
                          args.exit_after_setup)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


if __name__ == "__main__":
    sys.exit(main())
