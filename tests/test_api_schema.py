"""Schemathesis against the live app: every operation of the API reference (GET
/api/v1/openapi.json), with inputs made from its schemas, valid and invalid, sent over real
HTTP to a shop with a trained model; then the operations chained along the reference's links.
Zero 5xx, every status and media type declared, every answer within its schema.

The document is the one the app serves (built from the same routes), with the shop id pinned
to the test shop's (`enum`), so the calls reach its data rather than 404 on invented shops;
the other path parameters, the query and the bodies are Schemathesis's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from plugin.api.reference import DESCRIPTION, TITLE, VERSION
from plugin.app import create_app
from plugin.config import Settings
from plugin.store.shops import MAX_API_RATE_PER_MINUTE, add_shop, set_api_rate
from plugin.web.openapi import document
from tests.conftest import Store
from tests.helpers import bundle_orders, send_orders, train

SHOP_ID = "schemathesis-shop"  # made once per test session, by this module only
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def pinned_document() -> dict[str, Any]:
    app = create_app(Settings(public_url="http://testserver"))
    doc = copy.deepcopy(document(app.routes, TITLE, VERSION, DESCRIPTION,
                                 prefix="/api/v1/shops/"))
    for item in doc["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["name"] == "shop_id":
                    param["schema"] = {"type": "string", "enum": [SHOP_ID]}
    return doc


schema = schemathesis.openapi.from_dict(pinned_document())
schema.config.generation.update(max_examples=12, database="none")
LIVE: dict[str, Any] = {}  # where the state machine sends its calls (set by live_shop)


@pytest.fixture(scope="module")
def live_shop(store: Store, base_url: str) -> Iterator[dict[str, str]]:
    """The test shop with orders and a trained model; the headers every call carries."""
    made = store.run(lambda r: add_shop(r, SHOP_ID, "shopify", f"{SHOP_ID}.myshopify.com",
                                        "http://testserver"))
    # thousands of calls a minute: each reaches its operation, none is refused for the key's
    # rate limit (its 429 is checked in tests/plugin/web/test_auth_rate_limit.py)
    store.run(lambda r: set_api_rate(r, SHOP_ID, MAX_API_RATE_PER_MINUTE))
    with httpx.Client(base_url=base_url, timeout=60) as http:
        send_orders(http, made, bundle_orders(60))
        assert train(http, made).status_code == 200
    headers = {"Authorization": f"Bearer {made.api_key}"}
    LIVE.update(base_url=base_url, headers=headers)  # for the state machine's calls
    yield headers


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
          deadline=None)
def test_every_operation_keeps_the_reference(case: Any, live_shop: dict[str, str],
                                             base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers=live_shop, checks=CHECKS)


Workflow = schema.as_state_machine()


@pytest.fixture
def workflow_ready(live_shop: dict[str, str]) -> None:
    """The live server and the shop's key, in LIVE, before the state machine runs."""


class LinkedCalls(Workflow):  # type: ignore[misc,valid-type]
    def call(self, case: Any, **kwargs: Any) -> Any:
        return case.call(base_url=LIVE["base_url"], headers=LIVE["headers"], **kwargs)

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                          **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)


@pytest.mark.usefixtures("workflow_ready")
class TestLinkedCalls(LinkedCalls.TestCase):  # type: ignore[name-defined,misc]
    settings = settings(max_examples=8, stateful_step_count=4, deadline=None, database=None,
                        suppress_health_check=[HealthCheck.too_slow])
