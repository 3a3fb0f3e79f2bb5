"""`shopreco import-csv SHOP_ID FILE`: import past orders from Shopify's order export CSV."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.progress import Progress
from plugin.store.connection import open_redis
from webhooks import importer
from webhooks.importer import import_csv


async def cmd_import_csv(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        progress = Progress("importing orders", None)
        summary = await import_csv(redis, args.shop_id, args.file, progress)
        progress.finish()
    print(json.dumps(summary, indent=2))
    return 0


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add `import-csv SHOP_ID FILE` to the command line."""
    parser = sub.add_parser(
        "import-csv", help="import past orders from Shopify's order export CSV",
        description=importer.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shop_id")
    parser.add_argument("file", type=Path, help="the CSV from Orders > Export")
    parser.set_defaults(command=cmd_import_csv)
