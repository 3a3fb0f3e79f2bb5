"""`shopreco serve --workers N` (plugin/supervisor.py): N web processes on one listening socket
and a worker process, kept running and stopped together; the children it starts, the socket
it hands them, the restart delays, and the whole arrangement as separate processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
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
from plugin.store.connection import EmbeddedRedis
from plugin.store.shops import add_shop
from plugin.supervisor import (
    HEALTHY_AFTER_SECONDS,
    MAX_RESTART_DELAY,
    Child,
    _stop_all,
    children,
    listening_socket,
    supervise,
)
from tests.conftest import Store, free_port, run_async
from tests.helpers import body_of, eventually, order_payload, shopify_headers

# ---- the children, the socket, the restart delays --------------------------------------------


def test_children_are_n_web_processes_on_the_socket_and_a_worker() -> None:
    web_1, web_2, worker = children("127.0.0.1", 8123, 2, fd=17)
    command = [sys.executable, "-m", "plugin.cli"]
    for n, web in enumerate((web_1, web_2), start=1):
        assert web.name == f"web process {n}"
        assert web.args == [*command, "serve", "--host", "127.0.0.1", "--port", "8123",
                            "--socket-fd", "17"]
        assert web.pass_fds == (17,) and web.env["SHOPRECO_RUN_WORKER"] == "false"
    assert (worker.name, worker.args, worker.pass_fds) == ("worker process",
                                                           [*command, "worker"], ())
    assert worker.env == dict(os.environ)  # the supervisor's own settings


def test_the_listening_socket_is_bound_once_and_inheritable() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.get_inheritable() and sock.family == socket.AF_INET
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        with socket.create_connection(sock.getsockname(), timeout=5):
            accepted, _ = sock.accept()  # it listens
            accepted.close()
    finally:
        sock.close()
    ipv6 = listening_socket("::1", 0)
    try:
        assert ipv6.family == socket.AF_INET6
    finally:
        ipv6.close()


def test_a_child_failing_at_once_waits_longer_each_time_up_to_the_cap() -> None:
    child = Child("web process 1", ["true"], {})
    delays = []
    for _ in range(8):
        child.started = now = time.monotonic()
        child.schedule_restart(now)
        delays.append(round(child.due - now, 6))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_RESTART_DELAY, MAX_RESTART_DELAY,
                      MAX_RESTART_DELAY]


def test_a_child_that_ran_long_enough_restarts_after_a_second_again() -> None:
    child = Child("worker process", ["true"], {}, delay=MAX_RESTART_DELAY)
    now = time.monotonic()
    child.started = now - HEALTHY_AFTER_SECONDS - 1
    child.schedule_restart(now)
    assert child.due - now == pytest.approx(1.0) and child.delay == 2.0


def test_a_child_is_a_real_process_and_its_exit_is_seen() -> None:
    child = Child("worker process", [sys.executable, "-c", "import sys; sys.exit(3)"],
                  dict(os.environ))
    assert child.exited() is None  # not started yet
    child.start()
    assert child.process is not None
    child.process.wait(30)
    assert child.exited() == 3 and child.started > 0


def test_stopping_terminates_every_running_child() -> None:
    running = [Child(f"web process {n}", ["sleep", "60"], dict(os.environ)) for n in (1, 2)]
    for child in running:
        child.start()
    started = time.monotonic()
    _stop_all(running)
    assert time.monotonic() - started < 10
    assert [child.exited() for child in running] == [-signal.SIGTERM, -signal.SIGTERM]


def test_supervise_needs_at_least_one_web_process() -> None:
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "never-opened")
    with pytest.raises(ValueError, match="--workers must be at least 1, got 0"):
        run_async(lambda: supervise(settings, "127.0.0.1", free_port(), 0))
    assert not settings.data_dir.exists()  # refused before opening anything


# ---- moved from tests/test_processes.py: the real arrangement, as separate processes ----------


@pytest.fixture
def own_data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-proc-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def command_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(data_dir), "SHOPRECO_FSYNC_ALWAYS": "false"}
    env.pop("REDIS_URL", None)
    return env


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
        base = os.nice(0)  # the worker yields the CPU to the web processes
        assert niceness_of_children(server.pid) == {"serve": [base, base],
                                                    "worker": [max(base, 10)]}
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


def niceness_of_children(pid: int) -> dict[str, list[int]]:
    """The niceness of each child of `pid`, by its command (`serve` or `worker`)."""
    found: dict[str, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields[1]: the parent, fields[16]: the niceness
            kind = "worker" if b"worker" in command else "serve"
            found.setdefault(kind, []).append(int(fields[16]))
    return found


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
