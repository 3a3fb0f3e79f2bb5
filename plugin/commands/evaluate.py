"""`shopreco evaluate`: score shopreco and the baselines offline on an order history.

Example (the issue's UCI Online Retail split: train before 2011-09-01, test to 2011-12-09):

  shopreco evaluate --orders online_retail_ii_2009-12_2010-12.csv.gz \\
      --orders online_retail_uci_2010-12_2011-12.csv.gz --product-pattern '^\\d{5}[A-Za-z]*$'

Without --cutoff: 2011-09-01 when the orders span it, else the start of the last 20% of their
time span. Without --end: the last order's date (inclusive). `--split last-basket` tests on
each repeat customer's last order instead (next-basket studies' protocol), training on all else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plugin.commands import Subparsers
from plugin.config import Settings


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add `evaluate --orders FILE ...` to the command line."""
    parser = sub.add_parser(
        "evaluate", help="offline evaluation of shopreco against baseline recommenders",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=Path, action="append", required=True,
                        help="orders CSV or CSV.GZ (repeat to join several files)")
    parser.add_argument("--split", choices=("time", "last-basket"), default="time",
                        help="test on a time window (default) or on each customer's last "
                             "order (customers with two or more)")
    parser.add_argument("--cutoff", help="first day of the test window (YYYY-MM-DD)")
    parser.add_argument("--end", help="last day of the test window, inclusive (YYYY-MM-DD)")
    parser.add_argument("--k", type=int, default=10, help="recommendations per case")
    parser.add_argument("--product-pattern", help="keep only product ids matching this regex")
    parser.add_argument("--columns", type=columns, default={},
                        help="the file's names of our columns where they differ, e.g. "
                             "customer_id=household_id,order_id=basket_id,"
                             "ordered_at=transaction_timestamp (ours: order_id, customer_id, "
                             "product_id, ordered_at, quantity, unit_price; `unit_price=` "
                             "leaves an optional one out)")
    parser.add_argument("--overlap-from", default="2010-12-01",
                        help="with several files, drop the first file's rows from this date on")
    parser.add_argument("--seed", type=int, default=0, help="picks the hidden item of upsell")
    parser.add_argument("--tuning-seconds", type=float, default=None,
                        help="time budget of shopreco's per-shop choice of strategy "
                             "(default: SHOPRECO_TUNING_SECONDS)")
    parser.set_defaults(command=cmd_evaluate)


def columns(raw: str) -> dict[str, str]:
    """`ours=theirs,...` as a dict (argparse type: a ValueError becomes a usage error)."""
    pairs = [part.split("=", 1) for part in raw.split(",") if part.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"expected ours=theirs,..., got {raw!r}")
    return {ours.strip(): theirs.strip() for ours, theirs in pairs}


async def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from recommender.baselines import all_recommenders
    from recommender.evaluation import (
        build_cases,
        default_window,
        evaluate,
        format_table,
        last_basket_split,
        load_orders,
        ratio_to_best,
        split,
    )
    from recommender.tuning import describe_choice

    for path in args.orders:
        if not path.is_file():
            raise ValueError(f"--orders {path}: no such file")
    purchases = load_orders(args.orders, args.product_pattern, args.overlap_from, args.columns)
    if args.split == "last-basket":
        if args.cutoff or args.end:
            raise ValueError("--cutoff and --end set a time window: not with --split last-basket")
        train, test = last_basket_split(purchases)
        if not test:
            raise ValueError("no customer has two or more orders: no last basket to test on")
        customers = len({p.customer_id for p in test})
        print(f"train: {len(train)} lines; test: {len(test)} lines, the last order of each of "
              f"{customers} customers with two or more")
    else:
        cutoff, end = default_window(purchases, args.cutoff, args.end)
        train, test = split(purchases, cutoff, end)
        if not train or not test:
            raise ValueError(f"cutoff {cutoff} leaves {len(train)} training and {len(test)} "
                             "test lines: both must hold orders")
        print(f"train: {len(train)} lines before {cutoff}; test: {len(test)} lines "
              f"{cutoff} .. {end}")
    cases = build_cases(train, test, args.seed)
    print(f"cases: nurture {len(cases.nurture)} customers, discovery {len(cases.discovery)} "
          f"customers, upsell {len(cases.upsell)} orders; k = {args.k}", flush=True)
    budget = settings.tuning_seconds if args.tuning_seconds is None else args.tuning_seconds
    recommenders = all_recommenders(budget)
    results = evaluate(recommenders, train, test, args.k, args.seed,
                       on_result=lambda r: print(f"  done: {r.name}", file=sys.stderr, flush=True))
    print(format_table(results, args.k))
    print(ratio_to_best(results[0], results[1:]))
    choice = getattr(recommenders[0], "choice", None)
    if choice is not None:
        print(f"shopreco's choice on the training orders: {describe_choice(choice)}")
    return 0
