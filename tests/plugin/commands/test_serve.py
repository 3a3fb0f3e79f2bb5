"""`shopreco serve` and `shopreco worker` (plugin/commands/serve.py), run in this process
until Ctrl-C (SIGINT, sent once they answer) as an operator runs them: exit 130.

`serve` is the app on --port (with its worker unless SHOPRECO_RUN_WORKER=false), or, as a web
process of `serve --workers N`, on the inherited --socket-fd without a worker; --workers N
hands over to plugin.supervisor (tests/plugin/test_supervisor.py). `worker` runs only
ingestion and retraining."""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from plugin.engine.train_requests import worker_is_alive
from plugin.server import GC_THRESHOLDS
from plugin.store import keys
from plugin.store.events import Event, append
from plugin.store.shops import NewShop, add_shop
from tests.conftest import Store, free_port
from tests.helpers import body_of, order_payload
from tests.plugin.commands.conftest import Cli


@pytest.fixture(autouse=True)
def gc_restored() -> Iterator[None]:
    """A serving process settles its garbage collector (plugin.server.settle_gc); this one is
    the test process, so put it back."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class CtrlC:
    """Once `ready()` holds (checked from a thread of its own), SIGINT to this process, where
    the command runs in the main thread; never when it does not come to hold in time."""

    def __init__(self, ready: Callable[[], Any], timeout: float = 60.0) -> None:
        self.ready, self.timeout = ready, timeout
        self.seen: Any = None
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                self.seen = self.ready()
            except (AssertionError, httpx.HTTPError):
                time.sleep(0.05)
                continue
            os.kill(os.getpid(), signal.SIGINT)
            return

    def __enter__(self) -> CtrlC:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(self.timeout + 5)


def healthy(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/healthz", timeout=5)
    assert response.status_code == 200
    return dict(response.json())


def test_serve_answers_on_its_port_until_ctrl_c(cli: Cli, shop: NewShop) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    def serving() -> tuple[dict[str, Any], int, tuple[int, ...]]:
        api = httpx.get(f"{url}/api/v1/shops/{shop.shop.shop_id}/recommendations/trending",
                        headers={"Authorization": f"Bearer {shop.api_key}"}, timeout=5)
        # settled just after the server starts answering (plugin.server.serve): wait for it
        assert gc.get_threshold() == GC_THRESHOLDS
        return healthy(url), api.status_code, gc.get_threshold()

    with CtrlC(serving) as ctrl_c:
        result = cli("serve", "--port", url.rsplit(":", 1)[1], SHOPRECO_RUN_WORKER="false")
    assert ctrl_c.seen is not None, result.stderr[-2000:]
    health, api_status, thresholds = ctrl_c.seen
    assert (health["status"], health["process"], health["redis"]["mode"]) == (
        "ok", os.getpid(), "embedded")
    assert api_status == 200  # the shop of the store the settings name
    assert thresholds == GC_THRESHOLDS  # settled once started
    assert result.returncode == 130


def test_a_web_process_serves_the_inherited_socket_without_a_worker(
        own_cli: Cli, own_store: Store) -> None:
    listening = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    handed = os.dup(listening.fileno())  # the command's own, as a child inherits it
    os.set_inheritable(handed, True)
    try:
        def serving() -> bool:
            healthy(url)
            return bool(own_store.run(worker_is_alive))

        with CtrlC(serving) as ctrl_c:
            result = own_cli("serve", "--port", "1", "--socket-fd", str(handed),
                             SHOPRECO_RUN_WORKER="true")  # a web process runs none anyway
    finally:
        listening.close()
    assert ctrl_c.seen is False, result.stderr[-2000:]  # answered; no worker alive
    assert result.returncode == 130


def test_serve_with_workers_hands_over_to_the_supervisor(cli: Cli) -> None:
    result = cli("serve", "--workers", "-1", "--port", str(free_port()))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "shopreco: --workers must be at least 1, got -1\n"


def test_worker_ingests_until_ctrl_c(own_cli: Cli, own_store: Store) -> None:
    shop_id = "wk-" + uuid.uuid4().hex[:12]
    own_store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                     "http://testserver"))
    body = body_of(order_payload(77, 7, [1, 2]))
    own_store.run(lambda r: append(r, shop_id, Event("shopify", "orders/create", "w-1", body)))

    def working() -> bool:
        assert own_store.run(lambda r: r.hexists(keys.orders(shop_id), "77"))
        return bool(own_store.run(worker_is_alive))

    with CtrlC(working) as ctrl_c:
        result = own_cli("worker", SHOPRECO_WORKER_NICE="0")  # in this process: kept at 0
    assert ctrl_c.seen is True, result.stderr[-2000:]  # stored the order, trainer alive
    assert "shopreco worker running; Ctrl-C stops it" in result.stderr
    assert result.returncode == 130
    assert own_store.run(lambda r: r.xpending(keys.events(shop_id), "ingest"))["pending"] == 0
    assert not own_store.run(worker_is_alive)  # stopped cleanly: its sign of life removed
