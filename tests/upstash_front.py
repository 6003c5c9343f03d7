"""Upstash's REST API in front of the test redis-server, for tests only.

Commands go to the real redis-server unchanged; only the transport is
Upstash's: ``POST /`` with a JSON array, ``POST /pipeline`` and
``/multi-exec`` with an array of arrays, ``{"result": ...}`` or
``{"error": ...}`` answers, strings base64-encoded when the client sends
``Upstash-Encoding: base64`` (the upstash-redis client always does), and a
Bearer token. A second, read-only token is refused every write, as Upstash
refuses the read-only token of a Vercel KV database.

The npm package @humanwhocodes/upstash-redis-server was tried first: it
answers plain strings whatever the client asks, so the client's base64
decoding garbles every answer; it cannot serve the real client.
"""

from __future__ import annotations

import base64
import json
import threading

import redis
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

READ_COMMANDS = {
    "GET",
    "HGET",
    "HGETALL",
    "HMGET",
    "EXISTS",
    "ZRANGE",
    "ZREVRANGEBYLEX",
    "ZRANGEBYLEX",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "ZSCORE",
    "ZCARD",
    "PING",
    "EVALSHA_RO",
    "EVAL_RO",
    "TTL",
    "TYPE",
    "SCAN",
}


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def _encode(value, b64: bool):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode() if b64 else value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_encode(v, b64) for v in value]
    return value  # int or None


def _error_line(error: redis.exceptions.ResponseError) -> str:
    """The server's error line as Upstash relays it: redis-py strips the code for some errors; put it back."""
    codes = {
        redis.exceptions.NoScriptError: "NOSCRIPT",
        redis.exceptions.ReadOnlyError: "READONLY",
        redis.exceptions.NoPermissionError: "NOPERM",
    }
    text = str(error)
    code = codes.get(type(error))
    if code and not text.startswith(code):
        return f"{code} {text}"
    return text


class UpstashFront:
    def __init__(self, redis_port: int, token: str = "upstash-test-token", read_only_token: str = "upstash-ro-token"):
        self.token = token
        self.read_only_token = read_only_token
        # Raw replies: no decoding and no redis-py response callbacks, so HGETALL stays a flat list as on Upstash.
        self.pool = redis.ConnectionPool(host="127.0.0.1", port=redis_port, protocol=2)
        self.requests = 0
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self.pool.disconnect()

    def _run(self, command: list, read_only: bool) -> dict:
        if not command or not isinstance(command, list):
            return {"error": "ERR empty command"}
        name = str(command[0]).upper()
        if read_only and name not in READ_COMMANDS:
            return {"error": f"NOPERM this user has no permissions to run the '{name.lower()}' command"}
        connection = self.pool.get_connection()
        try:
            connection.send_command(*[str(c) if not isinstance(c, (bytes, str)) else c for c in command])
            return {"result": connection.read_response()}
        except redis.exceptions.ResponseError as e:
            return {"error": _error_line(e)}
        finally:
            self.pool.release(connection)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests += 1
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Bearer {self.token}", f"Bearer {self.read_only_token}"):
            return Response(
                json.dumps({"error": "WRONGPASS invalid or missing auth token"}), 401, content_type="application/json"
            )(environ, start_response)
        read_only = auth == f"Bearer {self.read_only_token}"
        b64 = request.headers.get("Upstash-Encoding") == "base64"
        body = json.loads(request.get_data() or b"null")
        if request.path == "/":
            answer = self._run(body, read_only)
            status = 400 if "error" in answer else 200
        elif request.path in ("/pipeline", "/multi-exec"):
            answer = [self._run(c, read_only) for c in body]
            status = 200
        else:
            answer, status = {"error": "ERR unknown path"}, 404
        if isinstance(answer, dict) and "result" in answer:
            answer["result"] = _encode(answer["result"], b64)
        elif isinstance(answer, list):
            answer = [{**a, "result": _encode(a["result"], b64)} if "result" in a else a for a in answer]
        return Response(json.dumps(answer), status, content_type="application/json")(environ, start_response)
