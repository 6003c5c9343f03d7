"""The OpenAPI document at /api/openapi.json: valid, complete, and true of every answer.

schemathesis generates requests for every documented operation from the document
itself and sends them to the app in-process (WSGI), on the real store of
conftest.py with stock initialized and orders of every kind; each answer must be
documented (status, content type, body) and none may be a 5xx; requests that
break the document's rules must be refused, and so must owner calls without the
token. Deterministic; OPENAPI_EXAMPLES=300 runs deeper.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from api.owner import STOCK_ACTIONS
from shop.catalog import Catalog
from shop.stripe_events import HANDLED_EVENTS, derived_order_id
from tests.conftest import OWNER_PASSWORD
from tests.stripe_factory import checkout_session, event, sign

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT_FILE = ROOT / "api" / "openapi.json"
DOCUMENT_URL = "/api/openapi.json"
WEBHOOK = "/api/webhooks/stripe"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
    missing_required_header,
    unsupported_method,
]
# Fuzzed cases per operation (the examples and coverage phases add their own few); more for a deeper local run.
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "12"))


@pytest.fixture
def app(make_app, stub):
    """The shop with Stripe's stand-in, so that a valid cart gets a session instead of a 502."""
    return make_app(
        STRIPE_SECRET_KEY="sk_test_stand_in",
        STRIPE_API_BASE=stub.base,
        PUBLIC_URL="http://127.0.0.1:5000",
        STRIPE_TIMEOUT_SECONDS=1,
    )


SESSIONS = {  # name: (metadata.items, payment_status)
    "paid": ("balm-tee/M*2", "paid"),
    "oversold": ("balm-tee/L*3", "paid"),
    "untracked": ("wool-coat/M", "paid"),
    "review": (None, "paid"),
    "disputed": ("tide-tote/OS", "paid"),
    "refunded": ("balm-tee/M", "paid"),
    "awaiting": ("balm-tee/S", "unpaid"),
}
# Orders of sessions the shop did not start have ids derived from the session: known before the run.
ORDERS = {name: derived_order_id(f"cs_test_openapi_{name}") for name in SESSIONS}


@pytest.fixture
def seeded(app, client, shop, deliver, owner_headers):
    """A shop in use: Chapter I counted, Chapter II not; paid, shipped, oversold, untracked, review, disputed,
    refunded, awaiting-payment and pending orders, and their ledger; Chapter II behind a running waiting line."""
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 6, "balm-tee/L": 1, "tide-tote/OS": 4})
    shop.inventory.adjust("chapter-i", {"balm-tee/M": -1}, note="damaged")
    sessions = {
        name: checkout_session(items=items, payment_status=paid, session_id=f"cs_test_openapi_{name}")
        for name, (items, paid) in SESSIONS.items()
    }
    for name, session in sessions.items():
        answer = deliver(event("checkout.session.completed", session)).get_json()
        assert answer["order_id"] == ORDERS[name], answer
    refund = {"payment_intent": sessions["refunded"]["payment_intent"], "amount_refunded": 9000}
    assert deliver(event("charge.refunded", refund)).get_json()["order_status"] == "refunded"
    dispute = {"id": "dp_test_openapi", "payment_intent": sessions["disputed"]["payment_intent"], "amount": 3500}
    assert (
        deliver(event("charge.dispute.created", {**dispute, "status": "needs_response"})).get_json()["status"]
        == "applied"
    )
    shipped = client.post(
        f"/api/owner/orders/{ORDERS['paid']}/status", json={"status": "shipped"}, headers=owner_headers
    )
    assert shipped.status_code == 200
    started = client.post("/api/checkout", json={"items": [{"sku": "tide-tote/OS", "quantity": 1}]})
    assert started.status_code == 201, started.get_json()
    # Chapter II sells through a running waiting line: its queue routes answer, its checkouts need a pass
    queue = {"starts_minutes_before": 15, "admit_per_minute": 60, "pass_minutes": 10}
    shop.releases.set("chapter-ii", {"opens_at": "2026-01-01T00:00Z", "queue": queue})
    return app


def catalog_values() -> dict[str, list[str]]:
    catalog = Catalog.load(ROOT / "catalog.json")
    return {"chapters": [c.id for c in catalog.chapters], "skus": list(catalog.items)}


def schemathesis_config() -> SchemathesisConfig:
    """A short, deterministic run: a few cases per operation, real ids and SKUs some of the time."""
    sometimes = {"probability": 0.6}
    catalog = catalog_values()
    return SchemathesisConfig.from_dict(
        {
            "seed": 20260101,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "auth": {"openapi": {"ownerToken": {"bearer": OWNER_PASSWORD}}},
            "dictionaries": {
                "orders": {"values": list(ORDERS.values())},
                "chapters": {"values": catalog["chapters"]},
                "skus": {"values": catalog["skus"]},
                "event_types": {"values": list(HANDLED_EVENTS)},
                "metadata_items": {"values": ["balm-tee/M*2", "tide-tote/OS", "wool-coat/L*1,balm-tee/S", "nope/M"]},
            },
            "parameters": {
                "path.order_id": {"dictionary": "orders", **sometimes},
                "path.chapter": {"dictionary": "chapters", **sometimes},
                "query.sku": {"dictionary": "skus", **sometimes},
                "body.items[*].sku": {"dictionary": "skus", **sometimes},
                "body.type": {"dictionary": "event_types", **sometimes},
                "body.data.object.metadata.items": {"dictionary": "metadata_items", **sometimes},
            },
        }
    )


class RunningApp:
    """The WSGI app of the running test. schemathesis binds one app to a schema when it is loaded (at import:
    its fixture loader does not work with pytest 9), while every test builds its app on a flushed store."""

    app = None
    requests = 0

    def __call__(self, environ, start_response):
        # Each generated request from an address of its own: the ignored-auth check sends wrong tokens on
        # purpose, and past five from one address they are 429 (SPEC 8, held by tests/test_owner_access.py).
        self.requests += 1
        environ["REMOTE_ADDR"] = f"10.{self.requests >> 16 & 255}.{self.requests >> 8 & 255}.{self.requests & 255}"
        return self.app(environ, start_response)


RUNNING = RunningApp()
# The data file itself; test_document_is_served_and_valid_openapi_3_1 proves the route serves these bytes.
schema = schemathesis.openapi.from_path(DOCUMENT_FILE, config=schemathesis_config())
schema.app = RUNNING  # what schemathesis.openapi.from_wsgi does: requests go to the app in-process


@pytest.fixture
def running(seeded):
    RUNNING.app = seeded
    yield seeded
    RUNNING.app = None


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_answer_is_documented_and_none_is_a_server_error(case, running):
    kwargs = {}
    if case.path == WEBHOOK and case.meta.generation.mode == GenerationMode.POSITIVE:
        # Signed as Stripe would sign it, so that the event reaches fulfilment; negative cases stay unsigned.
        raw = json.dumps(case.body).encode()
        case.headers["Stripe-Signature"] = sign(raw)
        kwargs["data"] = raw
    case.call_and_validate(checks=CHECKS, **kwargs)


def test_document_is_served_and_valid_openapi_3_1(client):
    response = client.get(DOCUMENT_URL)  # no credentials: the document is public
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data() == DOCUMENT_FILE.read_bytes()  # the file schemathesis reads above
    document = response.get_json()
    assert document["openapi"].startswith("3.1.")
    validate(document)  # openapi-spec-validator: raises with the first problem


def documented_operations(document: dict) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in methods}


def routed_operations(app) -> dict[tuple[str, str], str]:
    """Every (method, rule) of the app under /api/, HEAD and OPTIONS aside (Flask adds them by itself)."""
    return {
        (method, rule.rule): rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


# Route variables that the document spells out as literal paths, with every value the view takes.
LITERAL_VARIABLES = {"action": set(STOCK_ACTIONS)}


def test_document_lists_exactly_the_api_routes(app, client):
    """Each documented operation is a route of the app, and each route under /api/ is documented."""
    document = client.get(DOCUMENT_URL).get_json()
    adapter = app.url_map.bind("localhost")
    served: set[tuple[str, str]] = set()
    literals: dict[tuple[str, str, str], set[str]] = {}
    for method, path in sorted(documented_operations(document)):
        named = set(re.findall(r"{([^}/]+)}", path))
        try:
            rule, arguments = adapter.match(re.sub(r"{[^}/]+}", "x1", path), method=method, return_rule=True)
        except (NotFound, MethodNotAllowed, RequestRedirect) as e:
            pytest.fail(f"{method} {path} is documented but the app has no such route ({type(e).__name__})")
        assert named <= rule.arguments, f"{method} {path}: {named - rule.arguments} are not variables of {rule.rule}"
        for name in rule.arguments - named:
            literals.setdefault((method, rule.rule, name), set()).add(arguments[name])
        served.add((method, rule.rule))
    undocumented = sorted(set(routed_operations(app)) - served)
    assert not undocumented, f"routes under /api/ without documentation: {undocumented}"
    for (method, rule, name), values in literals.items():
        assert name in LITERAL_VARIABLES, (
            f"{method} {rule}: the document fills <{name}> with {values}; say which values it takes"
        )
        assert values == LITERAL_VARIABLES[name], (
            f"{method} {rule}: documented <{name}> {values}, the view takes {LITERAL_VARIABLES[name]}"
        )
