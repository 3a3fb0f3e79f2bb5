"""`shopreco dead-letters list|replay SHOP_ID`: events the worker gave up on."""

from __future__ import annotations

import argparse
import json

from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.store.connection import open_redis
from webhooks.deadletters import ALL, count_dead, list_dead, replay_dead


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add `shopreco dead-letters list|replay` to the CLI."""
    dead = sub.add_parser("dead-letters", help="list and replay events the worker gave up on")
    actions = dead.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="a shop's dead letters as JSON (oldest first)")
    listing.add_argument("shop_id")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--body", action="store_true", help="include each raw webhook body")
    listing.set_defaults(command=cmd_list)
    replay = actions.add_parser("replay", help="put dead letters back into the event stream")
    replay.add_argument("shop_id")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("event_ids", nargs="*", default=[], metavar="EVENT_ID",
                        help="event_id values from `dead-letters list`")
    chosen.add_argument("--all", action="store_true", help="replay every dead letter")
    replay.set_defaults(command=cmd_replay)


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        entries = await list_dead(redis, args.shop_id, args.limit, args.body)
        total = await count_dead(redis, args.shop_id)
    print(json.dumps({"shop_id": args.shop_id, "total": total, "dead_letters": entries},
                     indent=2))
    return 0


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        replayed = await replay_dead(redis, args.shop_id, ALL if args.all else args.event_ids)
    print(json.dumps({"shop_id": args.shop_id, "replayed": replayed}, indent=2))
    return 0
