"""`shopreco train SHOP_ID [--retune]`: process pending events and train a shop's model now."""

from __future__ import annotations

import argparse

from plugin.commands import Subparsers, print_json
from plugin.config import Settings
from plugin.engine.training import NothingToTrain, train_shop
from plugin.store.connection import open_redis
from plugin.store.shops import get_shop
from webhooks.ingest import Ingestor


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("train", help="process pending events and train a shop's model now")
    parser.add_argument("shop_id")
    parser.add_argument("--retune", action="store_true",
                        help="choose the strategy again even if the current choice is recent")
    parser.set_defaults(command=cmd_train)


async def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ValueError(f"no shop {args.shop_id!r} (see `shopreco shops list`)")
        await Ingestor(redis).drain(args.shop_id)
        try:
            info = await train_shop(redis, args.shop_id, tuning_seconds=settings.tuning_seconds,
                                    retune=args.retune)
        except NothingToTrain as error:  # a refusal in one line, like every other command's
            raise ValueError(str(error)) from None
    print_json({"shop_id": args.shop_id, "model_version": info.version, "model": info.meta})
    return 0
