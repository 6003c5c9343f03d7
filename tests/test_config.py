"""Settings (shop/config.py) as whoever deploys the shop meets them: the values read, and the words of a refusal.

Pure: no app, no store. Test ids avoid the store backends' names, which `make mutate` deselects with -k.
"""

from __future__ import annotations

import pytest

from shop import config
from shop.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"UPSTASH_REDIS_REST_TOKEN": "t"},
            "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together: UPSTASH_REDIS_REST_URL is not set",
        ),
        (
            {"UPSTASH_REDIS_REST_URL": "https://db.example"},
            "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together: UPSTASH_REDIS_REST_TOKEN is not set",
        ),
        (
            {"KV_REST_API_TOKEN": "t"},
            "KV_REST_API_URL and KV_REST_API_TOKEN go together: KV_REST_API_URL is not set",
        ),
    ],
    ids=["rest-token-without-its-address", "rest-address-without-its-token", "vercel-kv-token-alone"],
)
def test_a_rest_store_half_configured_names_the_variable_that_is_missing(raw, message):
    with pytest.raises(ConfigError) as refused:
        config.load(raw)
    assert str(refused.value) == message
