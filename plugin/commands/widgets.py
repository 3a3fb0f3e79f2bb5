"""`shopreco widgets stats SHOP_ID [--days N] [--json]`: what the widgets did for a shop."""

from __future__ import annotations

import argparse
import json
from typing import Any

from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.store.connection import open_redis
from plugin.store.shops import ShopError, get_shop
from widgets.stats import MAX_DAYS, widget_stats


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add `widgets stats` to the command line."""
    widgets = sub.add_parser("widgets", help="storefront widget stats").add_subparsers(
        required=True, metavar="ACTION")
    stats = widgets.add_parser(
        "stats", help="impressions, clicks, CTR and attributed revenue per placement")
    stats.add_argument("shop_id")
    stats.add_argument("--days", type=int, default=30, help=f"last N days, 1-{MAX_DAYS}")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(command=cmd_widget_stats)


async def cmd_widget_stats(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.days <= MAX_DAYS:
        raise ValueError(f"--days must be from 1 to {MAX_DAYS}, got {args.days}")
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r}; see `shopreco shops list`")
        stats = await widget_stats(redis, args.shop_id, args.days, settings.attribution_days)
    print(json.dumps(stats, indent=2) if args.json else format_table(stats))
    return 0


def format_table(stats: dict[str, Any]) -> str:
    """The stats as a plain-text table, one line per placement and a total."""
    header = ("placement", "impressions", "clicks", "ctr", "add_to_carts", "orders", "revenue")
    lines = [header]
    named = [*stats["placements"].items(), ("total", stats["total"])]
    for name, row in named:
        ctr = "-" if row["ctr"] is None else f"{row['ctr'] * 100:.1f}%"
        revenue = ", ".join(f"{v} {c}" for c, v in row["attributed_revenue"].items()) or "0"
        lines.append((name, str(row["impressions"]), str(row["clicks"]), ctr,
                      str(row["add_to_carts"]), str(row["attributed_orders"]), revenue))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    title = (f"widget stats of shop {stats['shop_id']}, {stats['days']} days since "
             f"{stats['since']} (attribution window {stats['attribution_days']} days)")
    table = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
             for line in lines]
    return "\n".join([title, *table])
