"""A local stand-in for Stripe's API, for tests only (this machine cannot reach Stripe).

It answers with Stripe's own object shapes (tests/fixtures/stripe) and checks
every Checkout Session it is asked to create against Stripe's published request
schema: an unknown or mistyped parameter is answered 400, as Stripe would, and
recorded so the test fails. It can be told to fail (HTTP 500) or to hang.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import jsonschema
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.stripe_factory import fixture

SCHEMA_PATHS = [
    Path(__file__).parent / "fixtures" / "stripe" / "POST_v1_checkout_sessions.request.schema.json",
    Path(__file__).parent / "fixtures" / "stripe" / "POST_v1_refunds.request.schema.json",
]
_INT = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def request_schema(index: int = 0) -> dict:
    return closed(json.loads(SCHEMA_PATHS[index].read_text()))


def closed(schema):
    """The schema as Stripe's server applies it: a parameter object takes only the keys it names.

    The published request schemas leave ``additionalProperties`` out of most parameter objects, which JSON
    Schema reads as "anything else is allowed"; Stripe answers an unknown key with 400 "Received unknown
    parameter". An object that names its properties and says nothing about others is closed here; an
    object that declares ``additionalProperties`` (metadata) keeps what it says.
    """
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (``a[b][0][c]=v``) -> nested dicts and lists, values as text."""
    root: dict = {}
    for name, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", name)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            want_list = nxt is not None and (nxt.isdigit() or nxt == "[]")
            if isinstance(node, list):
                index = len(node) if part == "[]" else int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if want_list else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if want_list else {})
    return root


def coerce(value, schema: dict):
    """Turn form text into the JSON type the schema asks for (what Stripe's server does)."""
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            candidate = coerce(value, option)
            if jsonschema.Draft4Validator(option).is_valid(candidate):
                return candidate
        return value
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, str) and _INT.match(value):
        return int(value)
    if kind == "number" and isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for k, v in value.items():
            sub = props.get(k) or (extra if isinstance(extra, dict) else {})
            out[k] = coerce(v, sub)
        return out
    if kind == "array" and isinstance(value, list):
        return [coerce(v, schema.get("items", {})) for v in value]
    if kind == "array" and isinstance(value, dict) and all(k.isdigit() for k in value):
        return [coerce(value[k], schema.get("items", {})) for k in sorted(value, key=int)]
    return value


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # the test output is for failures, not for every request
        pass


class StripeStub:
    """The stand-in server. ``fail_with`` makes the next calls fail: "500", "500-create" (only creating a
    Checkout Session) or "hang"."""

    def __init__(self):
        self.schema = request_schema()
        self.refund_schema = request_schema(1)
        self.refunds: dict[str, dict] = {}  # refund id -> the refund as created
        self._refund_keys: dict[str, str] = {}  # Idempotency-Key -> refund id (a repeated key is one refund)
        self.sessions: dict[str, dict] = {}
        self.line_items: dict[str, list] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.idempotency_keys: list[str | None] = []  # the Idempotency-Key of each request, in order
        self.events: list[dict] = []  # events "sent" (delivered or not), newest last
        self.undelivered: set[str] = set()
        self.endpoints: list[dict] = []
        self.schema_errors: list[str] = []
        self.fail_with: str | None = None
        self.hang_seconds = 3.0
        self.generation = 0
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> StripeStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def reset(self) -> None:
        self.generation += 1  # a request still hanging from an earlier test records nothing after this
        self.sessions.clear()
        self.refunds.clear()
        self._refund_keys.clear()
        self.line_items.clear()
        self.events.clear()
        self.undelivered.clear()
        self.endpoints.clear()
        self.requests.clear()
        self.idempotency_keys.clear()
        self.schema_errors.clear()
        self.fail_with = None

    # -- what tests do to a session -------------------------------------------

    def endpoint(self, url: str, events: list[str], status: str = "enabled", livemode: bool = False) -> dict:
        """A webhook endpoint as the Dashboard would create it."""
        created = {
            "id": f"we_{secrets.token_hex(8)}",
            "object": "webhook_endpoint",
            "url": url,
            "status": status,
            "enabled_events": events,
            "livemode": livemode,
            "api_version": None,
            "created": int(time.time()),
            "description": None,
            "metadata": {},
        }
        self.endpoints.append(created)
        return created

    def record_event(self, event: dict, delivered: bool = True) -> dict:
        """An event Stripe created; ``delivered=False`` when the endpoint never answered 2xx."""
        self.events.append(event)
        if not delivered:
            self.undelivered.add(event["id"])
        return event

    def complete(self, session_id: str, payment_status: str = "paid", **fields) -> dict:
        """The shopper paid (or started a delayed payment): the session as Stripe would now send it."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status=payment_status, payment_intent=f"pi_{secrets.token_hex(12)}")
        session["customer_details"] = {
            **(session.get("customer_details") or {}),
            "email": "grace@example.com",
            "name": "Grace Hopper",
        }
        session["collected_information"] = {
            "shipping_details": {
                "name": "Grace Hopper",
                "address": {
                    "line1": "1 Compiler Way",
                    "line2": None,
                    "city": "Arlington",
                    "postal_code": "22201",
                    "state": "VA",
                    "country": "US",
                },
            }
        }
        session.update(fields)
        return copy.deepcopy(session)

    # -- the HTTP side -----------------------------------------------------------

    def _json(self, body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _error(self, status: int, message: str, param: str | None = None) -> Response:
        return self._json({"error": {"type": "invalid_request_error", "message": message, "param": param}}, status)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        generation = self.generation
        pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True) + list(request.args.items(multi=True))
        if request.path.startswith("/pay/"):  # where a shopper's browser lands: Stripe's payment page
            html = f"<!doctype html><title>Pay</title><h1>Stripe Checkout stand-in</h1><p>{request.path[5:]}</p>"
            return Response(html, content_type="text/html")(environ, start_response)
        self.requests.append((request.method, request.path, decode_form(pairs)))
        self.idempotency_keys.append(request.headers.get("Idempotency-Key"))
        if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
            return self._error(401, "Invalid API Key provided")(environ, start_response)
        if self.fail_with == "500" or (
            self.fail_with == "500-create" and request.method == "POST" and request.path == "/v1/checkout/sessions"
        ):
            return self._json({"error": {"type": "api_error", "message": "stand-in told to fail"}}, 500)(
                environ, start_response
            )
        if self.fail_with == "hang":
            time.sleep(self.hang_seconds)
            if generation != self.generation:
                return self._error(409, "the test that sent this request has ended")(environ, start_response)
        if request.method == "POST" and request.path == "/v1/refunds":
            return self._create_refund(decode_form(pairs), request.headers.get("Idempotency-Key"))(
                environ, start_response
            )
        return self._route(request, decode_form(pairs))(environ, start_response)

    def _page(self, objects: list[dict], params: dict, url: str) -> Response:
        """A Stripe list: newest first, `limit` and `starting_after` as Stripe pages them."""
        objects = sorted(objects, key=lambda o: o.get("created") or 0, reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in objects]
            objects = objects[ids.index(after) + 1 :] if after in ids else []
        limit = int(params.get("limit") or 10)
        return self._json({"object": "list", "url": url, "has_more": len(objects) > limit, "data": objects[:limit]})

    def _route(self, request: Request, params: dict) -> Response:
        path = request.path
        if request.method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(params)
        if request.method == "GET" and path == "/v1/checkout/sessions":
            since = int((params.get("created") or {}).get("gte") or 0)
            found = [
                s
                for s in self.sessions.values()
                if (not params.get("status") or s["status"] == params["status"]) and s["created"] >= since
            ]
            return self._page(found, params, path)
        if request.method == "GET" and path == "/v1/events":
            types = set(params.get("types") or [])
            since = int((params.get("created") or {}).get("gte") or 0)
            found = [
                e
                for e in self.events
                if (not types or e["type"] in types)
                and e["created"] >= since
                and (params.get("delivery_success") != "false" or e["id"] in self.undelivered)
            ]
            return self._page(found, params, path)
        if request.method == "GET" and path == "/v1/webhook_endpoints":
            return self._page(self.endpoints, params, path)
        match = re.match(r"^/v1/checkout/sessions/([^/]+)(/line_items|/expire)?$", path)
        if match and match[1] in self.sessions:
            session_id, tail = match[1], match[2]
            if tail == "/line_items" and request.method == "GET":
                return self._json(
                    {"object": "list", "url": path, "has_more": False, "data": self.line_items.get(session_id, [])}
                )
            if tail == "/expire" and request.method == "POST":
                session = self.sessions[session_id]
                if session["status"] != "open":
                    return self._error(400, f"This Checkout Session is {session['status']}, not open")
                session["status"] = "expired"
                return self._json(session)
            if tail is None and request.method == "GET":
                body = copy.deepcopy(self.sessions[session_id])
                if "line_items" in (params.get("expand") or []):
                    body["line_items"] = {
                        "object": "list",
                        "data": self.line_items.get(session_id, []),
                        "has_more": False,
                        "url": f"{path}/line_items",
                    }
                return self._json(body)
        if match:
            return self._error(404, f"No such checkout.session: '{match[1]}'", "session")
        return self._error(404, f"Unrecognized request URL ({request.method}: {path})")

    def _checked(self, params: dict, schema: dict, what: str = "") -> tuple[dict, Response | None]:
        """``params`` read as Stripe reads them, and a 400 where they break ``schema`` (each error kept, led by ``what``)."""
        body = coerce(params, schema)
        errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        for e in errors:
            self.schema_errors.append(f"{what}{'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
        return body, (self._error(400, f"Invalid request: {self.schema_errors[-1]}") if errors else None)

    def _create_refund(self, params: dict, idempotency_key: str | None) -> Response:
        """POST /v1/refunds, checked against Stripe's request schema; the same Idempotency-Key answers the same refund."""
        body, refused = self._checked(params, self.refund_schema, "refund ")
        if refused:
            return refused
        if idempotency_key and idempotency_key in self._refund_keys:
            return self._json(self.refunds[self._refund_keys[idempotency_key]])
        session = next(
            (s for s in self.sessions.values() if s.get("payment_intent") == body.get("payment_intent")), None
        )
        if session is None:
            return self._error(404, f"No such payment_intent: '{body.get('payment_intent')}'", "payment_intent")
        total = session.get("amount_total") or 0
        already = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == session["payment_intent"])
        amount = body.get("amount", total - already)
        if amount > total - already or amount < 1:
            return self._error(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge")
        refund = fixture("refund")
        refund.update(
            id=f"re_{secrets.token_hex(12)}",
            amount=amount,
            currency=session.get("currency"),
            payment_intent=session["payment_intent"],
            metadata=body.get("metadata") or {},
            created=int(time.time()),
            status="succeeded",
        )
        self.refunds[refund["id"]] = refund
        if idempotency_key:
            self._refund_keys[idempotency_key] = refund["id"]
        return self._json(refund)

    def _create_session(self, params: dict) -> Response:
        body, refused = self._checked(params, self.schema)
        if refused:
            return refused
        session = fixture("checkout.session")
        session_id = f"cs_test_{secrets.token_hex(16)}"
        lines = []
        subtotal = 0
        for i, line in enumerate(body.get("line_items") or []):
            price_data = line.get("price_data") or {}
            unit = price_data.get("unit_amount") or 0
            qty = line.get("quantity") or 1
            subtotal += unit * qty
            item = fixture("checkout.session.line_item.item")
            product = price_data.get("product_data") or {}
            item.update(
                id=f"li_{secrets.token_hex(8)}",
                quantity=qty,
                amount_subtotal=unit * qty,
                amount_total=unit * qty,
                currency=price_data.get("currency"),
                description=product.get("name"),
            )
            item["price"] = {
                **(item.get("price") or {}),
                "unit_amount": unit,
                "currency": price_data.get("currency"),
                "metadata": {},
                "product": {
                    "id": f"prod_{i}",
                    "object": "product",
                    "name": product.get("name"),
                    "metadata": product.get("metadata") or {},
                },
            }
            lines.append(item)
        session.update(
            id=session_id,
            url=f"{self.base}/pay/{session_id}",
            status="open",
            payment_status="unpaid",
            amount_subtotal=subtotal,
            amount_total=subtotal,
            currency=(body.get("line_items") or [{}])[0].get("price_data", {}).get("currency"),
            metadata=body.get("metadata") or {},
            client_reference_id=body.get("client_reference_id"),
            expires_at=body.get("expires_at"),
            success_url=body.get("success_url"),
            cancel_url=body.get("cancel_url"),
            payment_intent=None,
            created=int(time.time()),
        )
        self.sessions[session_id] = session
        self.line_items[session_id] = lines
        return self._json(session)
