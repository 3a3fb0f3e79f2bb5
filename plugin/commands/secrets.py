"""`shopreco secrets new-key | rotate`: the keys that seal platform access tokens at rest
(plugin.store.sealing)."""

from __future__ import annotations

import argparse

from plugin.commands import Subparsers, print_json
from plugin.config import Settings
from plugin.store import sealing
from plugin.store.connection import open_redis
from plugin.store.shops import reseal_token, shop_ids


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("secrets", help="keys sealing the shops' access tokens at rest")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    new_key = actions.add_parser("new-key", help="print a new key for SHOPRECO_SECRET_KEYS")
    new_key.set_defaults(command=cmd_new_key)
    rotate = actions.add_parser(
        "rotate", help="seal every stored access token again under the first key of "
                       "SHOPRECO_SECRET_KEYS (any listed key opens the old ones)")
    rotate.set_defaults(command=cmd_rotate)


async def cmd_new_key(args: argparse.Namespace, settings: Settings) -> int:
    print(sealing.new_key())
    return 0


async def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        shops = await shop_ids(redis)
        resealed = [shop_id for shop_id in shops if await reseal_token(redis, shop_id)]
    print_json({"shops": len(shops), "tokens_resealed": len(resealed)})
    return 0
