"""The one store (plugin.store.connection): the embedded Redis outlives a killed owner only until
the next start adopts it, a registry left by a dead server does not stop a new one from starting,
an external Redis is used as it is; replies read as text."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from plugin.config import Secret
from plugin.store.connection import (
    DB_FILENAME,
    REGISTRY_FILENAME,
    EmbeddedRedis,
    json_object,
    open_redis,
    text,
)
from plugin.store.slots import is_cluster
from tests.conftest import ClusterStore, Store, free_port, run_async


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-conn-"))
    try:
        yield path
    finally:
        for server in redis_servers_of(path):  # a failed test must not leave a server behind
            server.kill()
        shutil.rmtree(path, ignore_errors=True)


def env_for(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(data_dir), "SHOPRECO_LOG_LEVEL": "WARNING",
           "SHOPRECO_FSYNC_ALWAYS": "false"}
    env.pop("REDIS_URL", None)
    return env


def registered_socket(data_dir: Path) -> str | None:
    try:
        return str(json.loads((data_dir / REGISTRY_FILENAME).read_text())["unixsocket"])
    except FileNotFoundError:
        return None


def redis_servers_of(data_dir: Path) -> list[psutil.Process]:
    """redis-server processes working in `data_dir` (their cwd is the AOF's folder) or on the
    socket its registry names."""
    marks = [str(data_dir), *filter(None, [registered_socket(data_dir)])]
    found = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        info = process.info
        if "redis-server" not in (info["name"] or "") or process.status() == psutil.STATUS_ZOMBIE:
            continue
        seen = " ".join([*(info["cmdline"] or []), info["cwd"] or ""])
        if any(mark in seen for mark in marks):
            found.append(process)
    return found


def cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "plugin.cli", *args], env=env_for(data_dir),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Serve:
    """`shopreco serve` on `data_dir` without REDIS_URL, as a process of its own."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.log_path = data_dir / "serve.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "plugin.cli", "serve", "--port", str(self.port)],
                env=env_for(data_dir), stdout=log, stderr=log)
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while not self.healthy():
            assert self.process.poll() is None, "serve exited:\n" + self.log_path.read_text()
            assert time.monotonic() < deadline, "serve never answered /healthz"
            time.sleep(0.1)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig: signal.Signals) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(30)


def test_a_restart_adopts_the_server_of_a_killed_owner_and_stops_it_at_exit(
    folder: Path,
) -> None:
    first = Serve(folder)
    try:
        cli(folder, "shops", "add", "kept", "--platform", "shopify",
            "--domain", "kept.myshopify.com")
        [orphan] = redis_servers_of(folder)
    finally:
        first.stop(signal.SIGKILL)
    runtime_dir = Path(str(registered_socket(folder))).parent
    assert orphan.is_running() and runtime_dir.is_dir()  # the owner died, its server did not

    second = Serve(folder)
    try:
        assert redis_servers_of(folder) == [orphan]  # adopted, no second server on the AOF
        assert [shop["shop_id"] for shop in json.loads(cli(folder, "shops", "list"))] == ["kept"]
    finally:
        code = second.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    orphan.wait(10)
    assert redis_servers_of(folder) == []
    assert not runtime_dir.exists() and not (folder / REGISTRY_FILENAME).exists()


def test_a_registry_naming_a_live_process_that_is_no_redis_server_is_replaced(
    folder: Path,
) -> None:
    first = EmbeddedRedis(folder, fsync_always=False)
    with redis.Redis(unix_socket_path=first.socket_path, client_name=first.client_name) as own:
        own.set("kept", "yes")
    first.close()  # the last client: a clean stop, the AOF holds the data
    assert redis_servers_of(folder) == [] and not (folder / REGISTRY_FILENAME).exists()
    stale = folder / "stale-runtime"
    stale.mkdir()
    (stale / "redis.pid").write_text(str(os.getpid()))  # a live pid, as after a reboot
    (stale / "redis.config").write_text("")
    (folder / REGISTRY_FILENAME).write_text(json.dumps({
        "pidfile": str(stale / "redis.pid"), "unixsocket": str(stale / "redis.socket"),
        "dbdir": str(folder), "dbfilename": DB_FILENAME,
    }))

    second = EmbeddedRedis(folder, fsync_always=False)
    try:
        with redis.Redis(unix_socket_path=second.socket_path) as client:
            assert client.get("kept") == b"yes"
        assert not stale.exists()
    finally:
        second.close()
    assert redis_servers_of(folder) == []


def test_replies_read_as_text_and_bytes_that_are_not_utf8_show_as_replacements() -> None:
    assert text(b"caf\xc3\xa9") == "café"
    assert text(b"raw \xff body") == "raw \ufffd body"
    assert text("already text") == "already text"


def test_an_external_redis_is_used_as_it_is_and_left_running(store: Store) -> None:
    settings = replace(store.settings,
                       redis_url=Secret(f"unix://{store.embedded.socket_path}"))
    key = f"test:connection:{uuid.uuid4().hex}"

    async def work() -> bytes | None:
        async with open_redis(settings) as client:
            await client.set(key, b"\xff kept as bytes")
            return await client.get(key)

    assert run_async(work) == b"\xff kept as bytes"
    assert store.run(lambda r: r.get(key)) == b"\xff kept as bytes"  # the server still answers


def test_a_cluster_url_opens_a_cluster_client_on_every_node(cluster_store: ClusterStore) -> None:
    one_node = cluster_store.cluster.url.split(",")[0]  # the client finds the other nodes
    settings = replace(cluster_store.settings, redis_url=Secret(one_node))

    async def work() -> tuple[bool, set[str]]:
        async with open_redis(settings) as client:
            for n in range(30):
                await client.set(f"test:cluster:{n}", n)
            nodes = {f"{node.host}:{node.port}" for node in client.get_primaries()}
            return is_cluster(client), nodes

    clustered, primaries = run_async(work)
    assert clustered and len(primaries) == 3



def test_json_object_reads_a_stored_object_and_nothing_else() -> None:
    assert json_object(b'{"title": "Mug", "price": "4.50"}') == {"title": "Mug", "price": "4.50"}
    assert json_object('["not", "an object"]') == {} and json_object("3") == {}
