"""uvicorn around the app (plugin/server.py), over real HTTP on loopback: X-Forwarded-For moves
the widget rate limit to another address only when the peer is one of SHOPRECO_TRUSTED_PROXIES;
the server's limits, `serving` for a block, the settled garbage collector."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from plugin.config import Settings
from plugin.server import (
    GC_THRESHOLDS,
    KEEP_ALIVE_SECONDS,
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    limit_malloc_arenas,
    make_server,
    serving,
    settle_gc,
)
from plugin.store import keys
from plugin.store.shops import NewShop
from tests.conftest import LiveServer, Store, free_port, run_async, settings_for

PATH = "/widgets/v1/recommendations"
SPOOFED = "203.0.113.9"
RATE = 3


def strict(store: Store, **changes: Any) -> Settings:
    return settings_for(store, widget_rate_per_minute=RATE, run_worker=False, **changes)


def widget(client: httpx.Client, shop: NewShop, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    params = {"key": shop.shop.widget_key, "placement": "trending"}
    return client.get(PATH, params=params, headers=headers).status_code


def counted_addresses(store: Store, shop: NewShop) -> set[str]:
    """The client addresses the widget rate limit has counters for."""
    pattern = keys.widget_rate(shop.shop.shop_id, "*", 0).replace(":0:*", ":*")

    async def scan(redis: Any) -> set[str]:
        return {key.decode().rsplit(":", 1)[1] async for key in redis.scan_iter(match=pattern)}

    return store.run(scan)


def within_one_window() -> None:
    """Start a burst at least 5 s before the next minute window opens, so it counts in one."""
    into = time.time() % keys.WIDGET_RATE_WINDOW_SECONDS
    if into > keys.WIDGET_RATE_WINDOW_SECONDS - 5:
        time.sleep(keys.WIDGET_RATE_WINDOW_SECONDS - into + 0.1)


def test_without_trusted_proxies_a_forwarded_for_header_does_not_dodge_the_limit(
    store, shop
) -> None:
    with LiveServer(strict(store)) as url, httpx.Client(base_url=url, timeout=30) as client:
        within_one_window()
        assert [widget(client, shop) for _ in range(RATE)] == [200] * RATE
        assert widget(client, shop, forwarded_for=SPOOFED) == 429
    assert counted_addresses(store, shop) == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(store, shop) -> None:
    settings = strict(store, trusted_proxies=("127.0.0.1",))
    with LiveServer(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        within_one_window()
        assert [widget(client, shop, SPOOFED) for _ in range(RATE)] == [200] * RATE
        assert widget(client, shop, forwarded_for=SPOOFED) == 429
        assert widget(client, shop, forwarded_for="203.0.113.10") == 200
        assert widget(client, shop) == 200  # the proxy's own address has its own count
    assert counted_addresses(store, shop) == {SPOOFED, "203.0.113.10", "127.0.0.1"}


@pytest.mark.parametrize("proxies", [("10.0.0.1",), ("192.168.0.0/16", "::1")])
def test_a_proxy_list_without_the_peer_is_not_trusted(store, shop, proxies) -> None:
    settings = strict(store, trusted_proxies=proxies)
    with LiveServer(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert widget(client, shop, forwarded_for=SPOOFED) == 200
    assert counted_addresses(store, shop) == {"127.0.0.1"}


def test_lower_priority_raises_the_niceness_and_never_lowers_it() -> None:
    """os.nice cannot be undone by an unprivileged process: tried in a child of its own."""
    base = os.nice(0)
    code = ("from plugin.server import lower_priority as lower; import os; "
            f"print(lower({base + 5}), lower({base + 3}), lower({base + 7}), os.nice(0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == [str(base + n) for n in (5, 5, 7, 7)]


def test_the_server_limits_glibcs_malloc_arenas() -> None:
    """Training threads would each get an arena of their own; glibc here takes the limit."""
    assert limit_malloc_arenas(2) is True


# ---- make_server, serving, settle_gc -----------------------------------------------------------


def test_make_server_runs_the_app_with_the_decided_limits(store) -> None:
    server = make_server(strict(store), "127.0.0.1", 0, log_level="warning")
    config = server.config
    assert (config.timeout_keep_alive, config.limit_concurrency,
            config.h11_max_incomplete_event_size) == (KEEP_ALIVE_SECONDS, MAX_CONNECTIONS,
                                                      MAX_HEAD_BYTES)
    assert config.access_log is False and config.lifespan == "on"
    assert config.proxy_headers is False  # no trusted proxy: the peer is the client
    trusting = make_server(strict(store, trusted_proxies=("10.0.0.0/8",)), "127.0.0.1", 0)
    assert trusting.config.proxy_headers is True
    assert trusting.config.forwarded_allow_ips == "10.0.0.0/8"
    assert trusting.config.log_level == "info"  # the settings' SHOPRECO_LOG_LEVEL


def test_a_request_head_over_max_head_bytes_is_refused(store) -> None:
    with LiveServer(strict(store)) as url:
        big = httpx.get(f"{url}/healthz", headers={"X-Big": "a" * 4 * MAX_HEAD_BYTES}, timeout=30)
    assert big.status_code in (400, 431)


def test_serving_runs_the_server_for_the_block_only(store) -> None:
    port = free_port()

    async def work() -> int:
        server = make_server(strict(store), "127.0.0.1", port, log_level="warning")
        async with serving(server), httpx.AsyncClient() as client:
            status = (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code
        assert server.should_exit
        return status

    assert run_async(work) == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_serving_raises_when_the_server_cannot_start(store) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        async def work() -> None:
            async with serving(make_server(strict(store), "127.0.0.1", port,
                                           log_level="critical")):
                raise AssertionError("the block ran without a server")

        with pytest.raises(SystemExit):  # uvicorn's own exit when it cannot bind
            run_async(work)


def test_settle_gc_freezes_what_start_up_made_and_collects_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        settle_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
