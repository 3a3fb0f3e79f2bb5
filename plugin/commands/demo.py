"""`shopreco demo`: the plugin with a demo shop and its storefront."""

from __future__ import annotations

import argparse

from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.demo.runner import run_demo


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="run the plugin with a demo shop and storefront")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--exit-after-setup", action="store_true",
                        help="stop once the demo is trained and checked (for scripts and CI)")
    parser.set_defaults(command=cmd_demo)


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    return await run_demo(settings, args.host, args.port, args.orders, args.seed,
                          args.exit_after_setup)
