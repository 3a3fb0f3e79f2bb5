"""The real commands as separate processes: `shopreco demo` and `shopreco worker`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin.config import Settings
from plugin.engine.train_requests import worker_is_alive
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.shops import add_shop
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import body_of, eventually, order_payload, shopify_headers


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


def process_of(client: httpx.Client) -> int:
    """The pid of the web process behind the client's (single, kept-alive) connection."""
    response = client.get("/healthz")
    assert response.status_code == 200
    return int(response.json()["process"])


def per_process(url: str, processes: int, ask: Callable[[httpx.Client], Any]) -> dict[int, Any]:
    """`ask` answered by each of `processes` web processes: a new connection lands on any of
    them, so connect until every one has answered on a connection of its own."""
    answers: dict[int, Any] = {}
    deadline = time.monotonic() + 60
    while len(answers) < processes:
        assert time.monotonic() < deadline, f"only processes {sorted(answers)} answered"
        with httpx.Client(base_url=url, timeout=30,
                          limits=httpx.Limits(max_connections=1)) as client:
            pid = process_of(client)
            if pid not in answers:
                answers[pid] = ask(client)
                assert process_of(client) == pid  # the same connection, the same process
    return answers


def test_serve_with_workers_shares_one_port_and_every_process_follows_changes(
    own_data_dir: Path,
) -> None:
    """Two web processes and a worker process: orders go in through any of them, training
    (asked of a web process, done by the worker) is served by all within the cache's
    refresh, an erased customer's row disappears from every process, and a web process killed
    is started again."""
    embedded = EmbeddedRedis(own_data_dir, fsync_always=False)
    own = Store(embedded, settings_for_dir(own_data_dir))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    new = own.run(lambda r: add_shop(r, "multi", "shopify", "multi.myshopify.com", url))
    auth_headers = {"Authorization": f"Bearer {new.api_key}"}
    api = "/api/v1/shops/multi"
    server = subprocess.Popen(
        [sys.executable, "-m", "plugin.cli", "serve", "--workers", "2", "--port", str(port)],
        env=command_env(own_data_dir), stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(url, server)
        eventually(lambda: _alive(own), timeout=60)  # the worker process has started too
        with httpx.Client(base_url=url, timeout=60) as client:
            for n in range(40):  # 40 customers buying pairs: something to learn
                body = body_of(order_payload(500 + n, 900 + n % 20, [1 + n % 4, 5 + n % 3]))
                headers = shopify_headers("multi.myshopify.com",
                                          new.shop.webhook_secrets[0].reveal(), body)
                assert client.post("/webhooks/shopify", content=body,
                                   headers=headers).status_code == 200
            trained = client.post(f"{api}/model/train", params={"wait": "true"},
                                  headers=auth_headers)
            assert trained.status_code == 200, trained.text
            first = trained.json()["model_version"]

        def versions() -> dict[int, Any]:
            return per_process(url, 2, lambda c: c.get(
                f"{api}/recommendations/products/1", headers=auth_headers).json()[
                    "model_version"])

        assert set(eventually(lambda: check_all(versions(), first)).values()) == {first}
        with httpx.Client(base_url=url, timeout=60) as client:
            again = client.post(f"{api}/model/train", params={"wait": "true", "retune": "true"},
                                headers=auth_headers).json()["model_version"]
        assert again != first
        eventually(lambda: check_all(versions(), again))

        def customer_strategies() -> dict[int, Any]:
            return per_process(url, 2, lambda c: c.get(
                f"{api}/recommendations/customers/901", headers=auth_headers).json()[
                    "strategy"])

        assert "trending" not in customer_strategies().values()  # known to the model
        erased = subprocess.run(
            [sys.executable, "-m", "plugin.cli", "erase", "multi", "--customer", "901"],
            env=command_env(own_data_dir), capture_output=True, text=True, timeout=120)
        assert erased.returncode == 0, erased.stderr[-2000:]
        eventually(lambda: check_all(customer_strategies(), "trending"))

        victim = next(iter(versions()))
        os.kill(victim, signal.SIGKILL)
        replaced = eventually(lambda: check_all_new(versions(), victim))
        assert len(replaced) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
        embedded.close()
    assert server.returncode == 0, stderr[-3000:]
    assert "exited with" in stderr  # the supervisor saw the kill and started it again
    # both trainings ran in the worker process, not in the web process that was asked
    assert stderr.count("trained shop 'multi' for a training request") == 2, stderr[-3000:]


def _alive(own: Store) -> None:
    assert own.run(worker_is_alive)


def check_all(answers: dict[int, Any], expected: Any) -> dict[int, Any]:
    assert set(answers.values()) == {expected}, answers
    return answers


def check_all_new(answers: dict[int, Any], gone: int) -> dict[int, Any]:
    assert gone not in answers, answers
    return answers


def wait_healthy(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve --workers did not answer /healthz within 120 s")


def settings_for_dir(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, fsync_always=False)
