"""`shopreco lifecycle SHOP_ID [--as-of DATE]`: a shop's lifecycle summary as text."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from plugin.api.lifecycle import parse_as_of
from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.engine.lifecycle import load_order_facts, metrics, stage_counts
from plugin.store.connection import open_redis
from plugin.store.shops import ShopError, get_shop
from recommender.lifecycle import (
    DAY,
    DEFAULT_LOOKBACK_DAYS,
)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add `shopreco lifecycle SHOP_ID [--as-of DATE]` to the CLI."""
    command = sub.add_parser("lifecycle", help="a shop's lifecycle summary: retention, repeat "
                                               "rate, AOV, CLV and customers per stage")
    command.add_argument("shop_id")
    command.add_argument("--as-of", help="a date (YYYY-MM-DD, through its end) or ISO time; "
                                         "default now")
    command.add_argument("--months", type=int, default=6, help="recent months shown (default 6)")
    command.set_defaults(command=cmd_lifecycle)


async def cmd_lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    as_of = parse_as_of(args.as_of)
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r}; see `shopreco shops list`")
        facts = await load_order_facts(redis, args.shop_id)
    numbers = metrics(args.shop_id, facts, as_of, as_of - 365 * DAY, as_of,
                      DEFAULT_LOOKBACK_DAYS)
    print(render_summary(numbers, stage_counts(args.shop_id, facts, as_of), args.months))
    return 0


def render_summary(numbers: dict[str, Any], stages: dict[str, Any], months: int = 6) -> str:
    """The metrics and stage answers as a text a store owner reads in a terminal."""
    lines = [f"Lifecycle of shop {numbers['shop_id']} as of {_when(numbers['as_of'])}", ""]
    lines += _headline(numbers, stages)
    lines += ["", *_stage_table(stages)]
    if numbers["monthly"] and months > 0:
        lines += ["", *_month_table(numbers["monthly"][-months:])]
    lines += [f"Note: {note}" for note in numbers["notes"]]
    return "\n".join(lines)


def _when(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ") + " UTC"


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _headline(numbers: dict[str, Any], stages: dict[str, Any]) -> list[str]:
    kept = numbers["retention"]
    rows = [
        ("Customers", f"{numbers['customers']:,}"),
        ("Orders", f"{numbers['orders']:,}"),
        ("Repeat-purchase rate", _percent(numbers["repeat_purchase_rate"])),
        ("Orders per customer", _number(numbers["orders_per_customer"])),
    ]
    for currency, money in sorted(numbers["money"].items()):
        rows += [(f"Revenue ({currency})", _number(money["revenue"])),
                 (f"AOV ({currency})", _number(money["aov"])),
                 (f"CLV ({currency}, historic)", _number(money["clv"]))]
    first_day = datetime.fromisoformat(kept["start"]) + timedelta(milliseconds=1)
    rows.append((f"Retention {first_day:%Y-%m-%d} .. {kept['end'][:10]}",
                 _percent(kept["rate"])))
    rows.append(("", f"customers at start {kept['customers_at_start']:,}, at end "
                     f"{kept['customers_at_end']:,}, new {kept['new_customers']:,} (a customer"
                     f" = ordered in the {kept['lookback_days']:g} days before)"))
    cycle = stages["repurchase_cycle_days"]
    rows.append(("Repurchase cycle", "n/a (no repeat customers)" if cycle is None
                 else f"{cycle:g} days (median gap between orders of repeat customers)"))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def _stage_table(stages: dict[str, Any]) -> list[str]:
    lines = [f"{'Stage':<16} {'Customers':>9} {'Share':>8} {'Churn risk':>10}  What to do"]
    for row in stages["stages"]:
        risk = "" if row["mean_churn_risk"] is None else f"{row['mean_churn_risk']:.2f}"
        lines.append(f"{row['label']:<16} {row['customers']:>9,} {_percent(row['share']):>8} "
                     f"{risk:>10}  {row['action']}")
    total = stages["customers"]
    lines.append(f"{'Total':<16} {total:>9,} {_percent(1.0 if total else None):>8}")
    return lines


def _month_table(months: list[dict[str, Any]]) -> list[str]:
    currencies = sorted({c for m in months for c in m["revenue"]})
    header = f"{'Month':<8} {'Orders':>7} {'Customers':>9} {'New':>6} {'Returning':>9}"
    header += "".join(f" {'Revenue ' + c:>14} {'AOV ' + c:>10}" for c in currencies)
    lines = [header]
    for m in months:
        line = (f"{m['month']:<8} {m['orders']:>7,} {m['customers']:>9,} "
                f"{m['new_customers']:>6,} {m['returning_customers']:>9,}")
        line += "".join(f" {_number(m['revenue'][c]):>14} {_number(m['aov'][c]):>10}"
                        for c in currencies)
        lines.append(line)
    return lines
