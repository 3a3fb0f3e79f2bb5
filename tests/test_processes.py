"""The real commands as separate processes: `shopreco demo` and `shopreco worker`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.shops import add_shop
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import body_of, order_payload, shopify_headers


@pytest.fixture
def own_data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-proc-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def command_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(data_dir), "SHOPRECO_FSYNC_ALWAYS": "false"}
    env.pop("REDIS_URL", None)
    return env


def run_demo(data_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plugin.cli", "demo", "--exit-after-setup", "--orders", "1500",
         "--port", str(port)],
        env=command_env(data_dir), capture_output=True, text=True, timeout=300,
    )


def test_demo_replays_trains_and_finds_the_pair(own_data_dir: Path) -> None:
    port = free_port()
    result = run_demo(own_data_dir, port)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "replaying webhooks" in result.stderr
    assert "comes back first" in result.stderr
    assert "/demo/" in result.stdout and "Authorization: Bearer sk_" in result.stdout
    assert f"http://127.0.0.1:{port}/admin/login?token=" in result.stdout  # the dashboard
    assert f"http://127.0.0.1:{port}/demo/shopify-install" in result.stdout  # Shopify install
    rerun = run_demo(own_data_dir, port)  # same data folder: every delivery is a duplicate
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "'duplicate'" in rerun.stderr and "'accepted'" not in rerun.stderr


def test_separate_worker_process_ingests_what_the_server_accepted(store: Store,
                                                                  own_data_dir: Path) -> None:
    embedded = EmbeddedRedis(own_data_dir, fsync_always=False)
    settings = settings_for(store, data_dir=own_data_dir, run_worker=False)
    worker = None
    try:
        with LiveServer(settings) as url, httpx.Client(base_url=url) as client:
            own = Store(embedded, settings)
            new = own.run(lambda r: add_shop(r, "w", "shopify", "w.myshopify.com", url))
            body = body_of(order_payload(77, 7, [1, 2]))
            headers = shopify_headers("w.myshopify.com", new.shop.webhook_secrets[0].reveal(),
                                      body)
            assert client.post("/webhooks/shopify", content=body, headers=headers).status_code \
                == 200
            assert own.run(lambda r: r.hlen(keys.orders("w"))) == 0  # no worker in the server
            worker = subprocess.Popen([sys.executable, "-m", "plugin.cli", "worker"],
                                      env=command_env(own_data_dir), stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while own.run(lambda r: r.hlen(keys.orders("w"))) == 0:
                assert time.monotonic() < deadline, "the worker process never stored the order"
                time.sleep(0.2)
            assert own.run(lambda r: r.xpending(keys.events("w"), "ingest"))["pending"] == 0
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGINT)
            worker.communicate(timeout=30)
        embedded.close()
