"""The gateway imports stripe in one place and maps its errors in one place (no Redis, no HTTP)."""

from __future__ import annotations

import ast
import inspect

import pytest
import stripe

from shop import stripe_gateway
from shop.errors import PaymentProviderError


def test_only_one_function_imports_stripe_and_no_module_level_name_hides_a_missing_import():
    tree = ast.parse(inspect.getsource(stripe_gateway))
    importers = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(n, ast.Import) and any(a.name == "stripe" for a in n.names) for n in ast.walk(node))
    ]
    assert importers == ["_stripe"]
    # A module-level `stripe` (even under TYPE_CHECKING) would let `stripe.X` in a method pass ruff unimported.
    module_names = {a.asname or a.name for n in ast.walk(tree) for a in getattr(n, "names", []) if n in tree.body}
    assert "stripe" not in module_names
    assert not any(isinstance(n, ast.If) for n in tree.body), "no TYPE_CHECKING block"
    assert "stripe" not in vars(stripe_gateway)


def test_every_function_that_names_stripe_binds_it_from_the_one_importer():
    tree = ast.parse(inspect.getsource(stripe_gateway))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or node.name == "_stripe":
            continue
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == "stripe"}
        if names:
            bound = [
                n
                for n in ast.walk(node)
                if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "stripe" for t in n.targets)
                and isinstance(n.value, ast.Call)
                and getattr(n.value.func, "id", None) == "_stripe"
            ]
            assert bound, f"{node.name} names stripe without stripe = _stripe()"


def _refusal():
    return stripe.InvalidRequestError("No such payment_intent: 'pi_x'", param="payment_intent", http_status=400)


def _raise(error):
    def call():
        raise error

    return call


def test_a_refusal_with_a_text_is_not_retryable_and_says_why():
    with pytest.raises(PaymentProviderError) as caught:
        stripe_gateway._call(_raise(_refusal()), "Stripe could not refund pi_x", refused="Stripe refused: {reason}")
    assert caught.value.message == "Stripe refused: No such payment_intent: 'pi_x'"
    assert caught.value.details == {"retryable": False}


def test_a_refusal_answered_none_is_none():
    assert stripe_gateway._call(_raise(_refusal()), "Stripe could not expire cs_x", refused=None) is None


def test_a_refusal_without_a_meaning_is_a_failure_that_names_what_failed():
    with pytest.raises(PaymentProviderError) as caught:
        stripe_gateway._call(_raise(_refusal()), "Stripe could not list events")
    assert caught.value.message == "Stripe could not list events: No such payment_intent: 'pi_x'"
    assert caught.value.details == {"retryable": False}


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (stripe.APIConnectionError("connection reset"), True),
        (stripe.RateLimitError("slow down", http_status=429), True),
        (stripe.APIError("boom", http_status=503), True),
        (stripe.AuthenticationError("bad key", http_status=401), False),
    ],
)
def test_other_stripe_errors_are_retryable_only_when_trying_again_can_help(error, retryable):
    with pytest.raises(PaymentProviderError) as caught:
        stripe_gateway._call(_raise(error), "Stripe could not start the checkout", refused="never {reason}")
    assert caught.value.message.startswith("Stripe could not start the checkout: ")
    assert caught.value.details == {"retryable": retryable}


def test_an_answer_passes_through():
    assert stripe_gateway._call(lambda: {"id": "re_1"}, "Stripe could not refund pi_x") == {"id": "re_1"}
