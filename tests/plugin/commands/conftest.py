"""Running a `shopreco` command in this process: `plugin.cli.main(argv)` with the settings of
the environment pointing at a test store's data folder, as `shopreco ARGS` would run it (the
command opens the store with `open_redis`, adopting the embedded Redis the tests opened),
without the second or two a child process costs to start."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plugin.cli import main
from plugin.config import Settings
from plugin.store import sealing
from plugin.store.connection import EmbeddedRedis
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from tests.conftest import Store


@dataclass
class Ran:
    """What a command did: like subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Cli = Callable[..., Ran]


def command_runner(store: Store, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> Cli:
    """`run(*args, **env)`: `shopreco ARGS` on `store`'s data folder; `env` are more SHOPRECO_*
    variables, as tests.conftest.shopreco takes them."""

    def run(*args: str, **env: str) -> Ran:
        with monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("SHOPRECO_")]:
                patch.delenv(name)  # the test environment's own settings do not leak in
            patch.delenv("REDIS_URL", raising=False)
            patch.setenv("SHOPRECO_DATA_DIR", str(store.settings.data_dir))
            patch.setenv("SHOPRECO_PUBLIC_URL", "https://reco.example.com")
            patch.setenv("SHOPRECO_FSYNC_ALWAYS", "false")
            for name, value in env.items():
                patch.setenv(name, value)
            capsys.readouterr()  # what the test printed before is not the command's
            code = main(list(args))
            out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture
def cli(store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Commands on the session's store (where the session's live server, if one runs, has a
    worker of its own)."""
    return command_runner(store, monkeypatch, capsys)


@pytest.fixture(scope="package")
def own_store() -> Iterator[Store]:
    """An embedded Redis of these tests' own: no other worker takes its events."""
    path = Path(tempfile.mkdtemp(prefix="shopreco-commands-"))
    embedded = EmbeddedRedis(path, fsync_always=False)
    sealing.add(sealing.Keyring.for_data_dir(path))  # as open_redis does: tokens can be sealed
    try:
        yield Store(embedded, Settings(data_dir=path, public_url="https://reco.example.com",
                                       fsync_always=False))
    finally:
        embedded.close()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_cli(own_store: Store, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Cli:
    """Commands on `own_store`."""
    return command_runner(own_store, monkeypatch, capsys)


# ---- orders as the adapters hand them to the store -------------------------------------------

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DAY = 86400.0


def order(order_id: str, customer: str | None, day: float, products: tuple[str, ...] = ("p1",),
          price: str = "10.00", cancelled: bool = False, currency: str = "EUR",
          at: float | None = None) -> Order:
    """An order of one of each product at `price`, placed `day` days after T0 (or at `at`)."""
    lines = tuple(LineItem(pid, None, f"Product {pid}", 1, price, f"{order_id}-{n}")
                  for n, pid in enumerate(products))
    when = T0 + day * DAY if at is None else at
    total = f"{float(price) * len(products):.2f}"
    return Order(order_id, customer, when, when, cancelled, currency, total, lines)


def store_orders(store: Store, shop_id: str, orders: list[Order]) -> None:
    async def work(redis: Any) -> None:
        for one in orders:
            await store_order(redis, shop_id, one)

    store.run(work)
