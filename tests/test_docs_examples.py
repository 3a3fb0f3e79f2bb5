"""The API examples of docs/api.md and the README run as written: every `sh` block of
docs/api.md and every README `sh` block that calls `$BASE`, in bash with real curl against the
live app and the real `shopreco` command, for a shop with orders and a trained model (its id
in place of `my-shop`; `KEY=...; BASE=...` lines give way to the test's). Each call must
answer 2xx (curl --fail-with-body), except in blocks that start `# answers 4xx`, whose answer
must be a problem+json 4xx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from plugin.store.shops import NewShop, add_shop
from tests.conftest import Store
from tests.helpers import bundle_orders, order_payload, send_orders, train

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
CUSTOMER, PRODUCT, PARTNER = 207119551, 632910392, 808950810


def blocks(path: Path, must_contain: str = "") -> list[str]:
    return [b for b in BLOCK.findall(path.read_text()) if must_contain in b]


EXAMPLES = [(f"docs/api.md#{n}", block) for n, block in enumerate(blocks(ROOT / "docs/api.md"))]
EXAMPLES += [(f"README.md#{n}", block)
             for n, block in enumerate(blocks(ROOT / "README.md", "$BASE"))]


@pytest.fixture(scope="module")
def documented_shop(store: Store, base_url: str) -> NewShop:
    """A shop whose customer 207119551 bought 632910392 with 808950810, among others."""
    shop_id = "docs-examples"
    made = store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                        "http://testserver"))
    orders = bundle_orders(40)
    orders += [order_payload(900_000 + n, CUSTOMER, [PRODUCT, PARTNER],
                             created_at=f"2026-0{1 + n}-15T10:00:00Z") for n in range(3)]
    with httpx.Client(base_url=base_url, timeout=60) as http:
        send_orders(http, made, orders)
        assert train(http, made).status_code == 200
    return made


@pytest.mark.parametrize(("where", "block"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_the_documented_example_runs(where: str, block: str, store: Store, base_url: str,
                                     documented_shop: NewShop) -> None:
    shop_id = documented_shop.shop.shop_id
    script = "\n".join(line for line in block.replace("my-shop", shop_id).splitlines()
                       if not line.startswith("KEY="))
    failing = block.startswith("# answers 4xx")
    prelude = f"""set -euo pipefail
curl() {{ command curl -sS {'' if failing else '--fail-with-body'} "$@"; echo; }}
shopreco() {{ "$PYTHON" -m plugin.cli "$@"; }}
"""
    env = {**os.environ, "KEY": documented_shop.api_key, "PYTHON": sys.executable,
           "BASE": f"{base_url}/api/v1/shops/{shop_id}",
           "SHOPRECO_DATA_DIR": str(store.settings.data_dir),
           "SHOPRECO_PUBLIC_URL": "https://reco.example.com"}
    env.pop("REDIS_URL", None)
    with tempfile.TemporaryDirectory(prefix="shopreco-docs-") as work:  # e.g. -o nurture.csv
        done = subprocess.run(["bash", "-c", prelude + script], cwd=work, env=env,
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{where}:\n{script}\n{done.stdout[-2000:]}{done.stderr}"
    if failing:
        assert re.search(r"^HTTP/1\.1 4\d\d", done.stdout, re.M), done.stdout
        assert "application/problem+json" in done.stdout
    assert documented_shop.api_key not in done.stderr
