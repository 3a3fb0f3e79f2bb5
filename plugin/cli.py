"""The `shopreco` command line: serve, worker, shops, keys, backfill, import-csv, train, demo,
dead-letters, privacy, erase, evaluate, lifecycle, widgets, experiments, secrets, shopify,
admin."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from plugin.commands import (
    Command,
    admin,
    backfill,
    deadletters,
    demo,
    evaluate,
    experiments,
    import_csv,
    keys,
    lifecycle,
    privacy,
    secrets,
    serve,
    shopify,
    shops,
    train,
    widgets,
)
from plugin.config import ConfigError, Settings
from plugin.store.shops import ShopError
from webhooks.http import FetchError

# In the order `shopreco --help` lists them.
COMMANDS = (serve, shops, keys, backfill, train, demo, deadletters, privacy, import_csv, evaluate,
            lifecycle, widgets, experiments, secrets, shopify, admin)


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
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(command(args, settings))
    except (ShopError, ValueError, FetchError) as error:
        print(f"shopreco: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (the project installs it: about twice the
    requests per core of asyncio's own loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopreco", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
