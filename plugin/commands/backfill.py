"""`shopreco backfill SHOP_ID [--restart]`: import a shop's order history from its platform."""

from __future__ import annotations

import argparse

from plugin.commands import Subparsers, print_json
from plugin.config import Settings
from plugin.progress import Progress
from plugin.store.connection import open_redis
from plugin.store.shops import ShopError, get_shop
from webhooks.backfill import BackfillError, Page, run_backfill
from webhooks.http import PlatformHttp
from webhooks.platforms import BACKFILL_SOURCES


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("backfill", help="import a shop's order history from its platform")
    parser.add_argument("shop_id")
    parser.add_argument("--restart", action="store_true",
                        help="start from the beginning, not from the saved checkpoint")
    parser.set_defaults(command=cmd_backfill)


async def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        shop = await get_shop(redis, args.shop_id)
        if shop is None:
            raise ShopError(f"no shop {args.shop_id!r}; see `shopreco shops list`")
        source = BACKFILL_SOURCES.get(shop.platform)
        if source is None:
            raise BackfillError(f"backfill is not available for {shop.platform} shops")
        progress = Progress("backfilling orders", None)

        def on_page(page: Page) -> None:
            progress.total = page.total
            progress.step(len(page.orders))

        http = PlatformHttp()
        try:
            result = await run_backfill(redis, http, shop, source, args.restart, on_page)
        finally:
            await http.aclose()
        progress.finish()
    print_json({"shop_id": shop.shop_id, **vars(result)})
    return 0
