"""`shopreco demo` (plugin/commands/demo.py): the plugin on a data folder of its own with a
generated demo shop, replayed through the real webhook endpoint, trained and checked; with
--exit-after-setup it stops there, exit 0 when the always-bought-together pair is found."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin.config import Settings
from plugin.store.connection import EmbeddedRedis
from plugin.store.shops import get_shop
from tests.conftest import Store, free_port
from tests.plugin.commands.conftest import Cli, command_runner


@pytest.fixture
def demo_store() -> Iterator[Store]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-demo-"))
    embedded = EmbeddedRedis(path, fsync_always=False)
    try:
        yield Store(embedded, Settings(data_dir=path, fsync_always=False))
    finally:
        embedded.close()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def demo_cli(demo_store: Store, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Cli:
    return command_runner(demo_store, monkeypatch, capsys)


def test_sets_up_the_demo_and_exits_after_it(demo_cli: Cli, demo_store: Store) -> None:
    port = free_port()
    result = demo_cli("demo", "--exit-after-setup", "--orders", "400", "--seed", "3",
                      "--port", str(port), SHOPRECO_TUNING_SECONDS="0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "generating the demo store (400 orders)" in result.stderr
    assert "replaying webhooks" in result.stderr and "'accepted'" in result.stderr
    assert "the always-bought-together product comes back first" in result.stderr
    url = f"http://127.0.0.1:{port}"
    assert f"Storefront (product and cart pages with the widget):  {url}/demo/" in result.stdout
    assert f"{url}/admin/login?token=" in result.stdout and "Bearer sk_" in result.stdout
    shop = demo_store.run(lambda r: get_shop(r, "demo"))
    assert shop is not None and shop.storefront_url == f"{url}/demo"
