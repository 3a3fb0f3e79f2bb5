"""`shopreco serve --workers N`: N web processes sharing one listening socket, and the
ingestion worker and the trainer in a process of their own, kept running by this one.

The supervisor binds host:port once and hands the socket to each web process (the kernel gives
each new connection to whichever process accepts it first), opens the store (for the embedded
Redis it is the process that keeps the server up while web processes come and go), runs the
data migrations once, then starts the children as `shopreco serve --socket-fd FD` and
`shopreco worker`. A child that exits is started again (after 1 s, doubling up to 30 s while it
keeps failing at once). SIGTERM or Ctrl-C stops the children (SIGTERM, SIGKILL after
STOP_SECONDS) and then the supervisor.

Each web process keeps its own cache of what requests read (plugin.store.cache): a change made
by any process is served by every web process within plugin.store.cache.REFRESH_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from plugin.config import Settings
from plugin.store.connection import open_redis
from plugin.store.migrations import migrate

log = logging.getLogger(__name__)

STOP_SECONDS = 30
MAX_RESTART_DELAY = 30.0
HEALTHY_AFTER_SECONDS = 60  # a child that ran this long restarts without delay when it exits
BACKLOG = 2048


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = 1.0
    due: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, env=self.env, pass_fds=self.pass_fds)
        self.started = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def schedule_restart(self, now: float) -> None:
        if now - self.started > HEALTHY_AFTER_SECONDS:
            self.delay = 1.0
        self.due = now + self.delay
        log.warning("%s exited with %s; starting it again in %.0f s", self.name,
                    self.exited(), self.delay)
        self.delay = min(MAX_RESTART_DELAY, self.delay * 2)


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def children(host: str, port: int, workers: int, fd: int) -> list[Child]:
    command = [sys.executable, "-m", "plugin.cli"]
    web_env = {**os.environ, "SHOPRECO_RUN_WORKER": "false"}
    web = [Child(f"web process {n + 1}", [*command, "serve", "--host", host, "--port",
                                          str(port), "--socket-fd", str(fd)], web_env, (fd,))
           for n in range(workers)]
    return [*web, Child("worker process", [*command, "worker"], dict(os.environ))]


async def supervise(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run `workers` web processes and one worker process until SIGTERM / SIGINT."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sock = listening_socket(host, port)
    try:
        async with open_redis(settings) as redis:
            await migrate(redis)
            running = children(host, port, workers, sock.fileno())
            for child in running:
                child.start()
            log.info("shopreco serving on http://%s:%d with %d web process(es) and a worker "
                     "process", host, port, workers)
            try:
                await _keep_running(running, stop)
            finally:
                _stop_all(running)
    finally:
        sock.close()
    return 0


async def _keep_running(running: list[Child], stop: asyncio.Event) -> None:
    while not stop.is_set():
        now = time.monotonic()
        for child in running:
            if child.exited() is None:
                continue
            if child.due <= child.started:
                child.schedule_restart(now)
            elif now >= child.due:
                child.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def _stop_all(running: list[Child]) -> None:
    for child in running:
        if child.process is not None and child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in running:
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %d s; killed", child.name, STOP_SECONDS)
            child.process.kill()
            child.process.wait()
