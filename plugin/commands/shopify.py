"""`shopreco shopify app-config [--output FILE]`: the owner's Shopify app configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.shopify.app_config import app_toml


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("shopify", help="the Shopify app: its configuration file")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    config = actions.add_parser(
        "app-config", help="write shopify.app.toml for your Shopify app from the settings")
    config.add_argument("--output", type=Path, default=Path("shopify.app.toml"),
                        help="where to write it (default: ./shopify.app.toml)")
    config.add_argument("--name", default="shopreco", help="the app's name in Shopify")
    config.add_argument("--handle", default="shopreco",
                        help="the app's URL slug in the Shopify admin")
    config.set_defaults(command=cmd_app_config)


async def cmd_app_config(args: argparse.Namespace, settings: Settings) -> int:
    text = app_toml(settings, args.name, args.handle)
    args.output.write_text(text)
    print(f"wrote {args.output}\n"
          "next: put it in your Shopify app's folder (Shopify CLI) and run `shopify app "
          "deploy`; then install the app on a store from the Partner Dashboard")
    return 0
