"""`shopreco experiments list | create | start | stop | ship | results | serve SHOP_ID ...`: a
shop's A/B experiments (plugin.store.experiments; the API's /experiments calls and the
dashboard's Experiments page do the same). Every running server follows a change within a
quarter of a second."""

from __future__ import annotations

import argparse
import time
from typing import Any

from plugin.commands import Subparsers, print_json
from plugin.config import Settings
from plugin.engine import experiments as engine
from plugin.store import experiments as store
from plugin.store.connection import open_redis
from plugin.store.experiments import (
    ALL,
    CONFIG,
    PLACEMENTS,
    SERVABLE,
    STRATEGIES,
    UnknownExperiment,
)
from recommender.blend import BlendError, blend_from_text


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("experiments", help="A/B experiments: list, create, start, stop, "
                                                "ship, results")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the shop's experiments, the newest first")
    listing.add_argument("shop_id")
    listing.set_defaults(command=cmd_list)
    create = actions.add_parser("create", help="a new experiment (a draft; `start` runs it)")
    create.add_argument("shop_id")
    create.add_argument("--name", required=True)
    create.add_argument("--placement", required=True, choices=[*PLACEMENTS, ALL],
                        help="the widget placement it runs on (*: all of them)")
    create.add_argument("--arm", action="append", required=True, dest="arms",
                        metavar="NAME:STRATEGY:SHARE",
                        help=f"an arm (repeat, 2 to 5; the first is the control); STRATEGY "
                             f"is one of {', '.join(STRATEGIES)}, SHARE its share of the "
                             "traffic, e.g. --arm A:chosen:50 --arm B:holdout:50")
    create.add_argument("--config", action="append", default=[], dest="blends",
                        metavar="NAME:FIELD=VALUE,...",
                        help="a config arm's blend (the defaults fill the fields not named; "
                             "none: the default blend), e.g. --arm B:config:50 --config "
                             "B:nurture_trending=1,nurture_own=0")
    create.set_defaults(command=cmd_create)
    for name, helped, command in (("start", "run a draft", cmd_start),
                                  ("stop", "stop it; its results are kept as of now",
                                   cmd_stop),
                                  ("results", "its results per arm and against the control",
                                   cmd_results)):
        action = actions.add_parser(name, help=helped)
        action.add_argument("shop_id")
        action.add_argument("experiment_id")
        if command is cmd_results:
            action.add_argument("--json", action="store_true", help="print JSON, not a table")
        action.set_defaults(command=command)
    ship = actions.add_parser("ship", help="stop it if it runs and serve an arm's strategy on "
                                           "its placement")
    ship.add_argument("shop_id")
    ship.add_argument("experiment_id")
    ship.add_argument("--arm", required=True, help="the arm to serve")
    ship.set_defaults(command=cmd_ship)
    serve = actions.add_parser("serve", help="serve a placement with a strategy (chosen: back "
                                             "to the shop's model)")
    serve.add_argument("shop_id")
    serve.add_argument("placement", choices=[*PLACEMENTS, ALL])
    serve.add_argument("strategy", choices=SERVABLE)
    serve.set_defaults(command=cmd_serve)


def parse_arm(raw: str) -> dict[str, Any]:
    """NAME:STRATEGY:SHARE as the store takes an arm."""
    name, _, rest = raw.rpartition(":")
    name, _, strategy = name.rpartition(":")
    try:
        share = float(rest)
    except ValueError:
        raise ValueError(f"--arm takes NAME:STRATEGY:SHARE, e.g. B:holdout:50; got {raw!r}"
                         ) from None
    return {"name": name, "strategy": strategy, "share": share}


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        found = await store.list_experiments(redis, args.shop_id)
        print_json({"shop_id": args.shop_id,
                    "experiments": [e.to_dict(with_results=False) for e in found],
                    "serving": await store.shipped(redis, args.shop_id)})
    return 0


def with_blends(arms: list[dict[str, Any]], blends: list[str]) -> list[dict[str, Any]]:
    """The arms, each config arm with the blend a --config NAME:FIELD=VALUE,... gives it."""
    given = {}
    for raw in blends:
        name, colon, text = raw.partition(":")
        if not colon:
            raise ValueError(f"--config takes NAME:FIELD=VALUE,..., got {raw!r}")
        try:
            given[name] = blend_from_text(text)
        except BlendError as error:
            raise ValueError(f"--config {name}: {error}") from None
    named = {arm["name"] for arm in arms if arm["strategy"] == CONFIG}
    if set(given) - named:
        raise ValueError(f"--config names no config arm: {', '.join(sorted(set(given) - named))}")
    return [{**arm, "config": given.get(arm["name"], {})} if arm["strategy"] == CONFIG else arm
            for arm in arms]


async def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    arms = with_blends([parse_arm(a) for a in args.arms], args.blends)
    made = store.new_experiment(args.name, args.placement, arms, time.time())
    async with open_redis(settings) as redis:
        await store.create_experiment(redis, args.shop_id, made)
    print_json(made.to_dict(with_results=False))
    return 0


async def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        started = await store.start_experiment(redis, args.shop_id, args.experiment_id,
                                               time.time())
    print_json(started.to_dict(with_results=False))
    return 0


async def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        stopped = await engine.stop(redis, args.shop_id, args.experiment_id)
    print(format_results(stopped.to_dict(), dict(stopped.results or {})))
    return 0


async def cmd_ship(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        shipped = await engine.ship(redis, args.shop_id, args.experiment_id, args.arm)
    arm = shipped.arm(args.arm)
    where = "every placement" if shipped.placement == ALL else f"placement {shipped.placement}"
    print(f"{where} of shop {args.shop_id} now serves arm {arm.name}: {arm.serves}")
    return 0


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        await store.serve_strategy(redis, args.shop_id, args.placement, args.strategy)
        print_json({"shop_id": args.shop_id, "serving": await store.shipped(redis, args.shop_id)})
    return 0


async def cmd_results(args: argparse.Namespace, settings: Settings) -> int:
    async with open_redis(settings) as redis:
        found = await store.get_experiment(redis, args.shop_id, args.experiment_id)
        if found is None:
            raise UnknownExperiment(f"shop {args.shop_id!r} has no experiment "
                                    f"{args.experiment_id!r}; see `shopreco experiments list`")
        results = await engine.results_of(redis, args.shop_id, found)
    if args.json:
        print_json({**found.to_dict(), "results": results})
    else:
        print(format_results(found.to_dict(), results))
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def format_results(experiment: dict[str, Any], results: dict[str, Any] | None) -> str:
    """An experiment's results as plain text: a table per arm, then the verdicts."""
    title = (f"experiment {experiment['id']} ({experiment['name']}) on "
             f"{experiment['placement']}: {experiment['status']}")
    if results is None:
        return f"{title}\nno results: it has not started"
    header = ("arm", "strategy", "share", "visitors", "impressions", "ctr", "add-to-cart",
              "conversion", "orders", "revenue/visitor", "aov")
    rows = [header]
    for arm in results["arms"]:
        rows.append((arm["name"], arm["strategy"], f"{arm['share']:g}%", str(arm["visitors"]),
                     str(arm["impressions"]), _percent(arm["ctr"]),
                     _percent(arm["add_to_cart_rate"]), _percent(arm["conversion_rate"]),
                     str(arm["orders"]), _money(arm["revenue_per_visitor"]),
                     _money(arm["aov"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    return "\n".join([title, *table, "", *results["verdicts"]])


def _money(per_currency: dict[str, str | None]) -> str:
    return ", ".join(f"{v} {c}" for c, v in per_currency.items() if v is not None) or "-"
