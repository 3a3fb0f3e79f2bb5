"""Workers killed with SIGKILL mid-replay on a real Redis Cluster lose no order and count none
twice: the replay of tests/test_kill.py, with the workers and the server on the session's test
cluster (tests/cluster.py). A module of its own: no other server of the tests may be ingesting
from the cluster meanwhile (tests/test_cluster.py's is stopped when that module ends)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from redis.cluster import RedisCluster

from tests.conftest import ClusterStore
from tests.test_kill import (  # noqa: F401  (kill_dir: the fixture)
    Restartable,
    kill_dir,
    quiet_env,
    replay_with_killed_workers,
)


def test_sigkilled_workers_on_the_cluster_lose_nothing_and_count_nothing_twice(
        cluster_store: ClusterStore, kill_dir: Path) -> None:  # noqa: F811
    settings = replace(cluster_store.settings, data_dir=kill_dir, run_worker=False)
    workers = Restartable(["worker"], quiet_env(kill_dir, REDIS_URL=cluster_store.cluster.url),
                          kill_dir / "workers.log")
    client = RedisCluster(host="127.0.0.1", port=cluster_store.cluster.ports[0])
    try:
        replay_with_killed_workers(ClusterStore(cluster_store.cluster, settings), client, workers)
    except AssertionError as error:  # what the workers said
        log = (kill_dir / "workers.log").read_text()[-4000:]
        raise AssertionError(f"{error}\nworkers' log:\n{log}") from error
    finally:
        client.close()
