"""The owner's pinned products through the JSON API (plugin/api/pins.py) over real HTTP: the
list replaced whole and read back, every refusal a 400 with its reason that leaves the stored
pins as they were, the API key of the shop required, and every answer as the API reference
(GET /api/v1/openapi.json) describes it."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from plugin.store.pins import MAX_PINS, Pin, pins, replace_pins
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import auth
from tests.openapi_check import reference, schema_errors, undocumented

NEXT_YEAR = datetime.now(UTC).year + 1


def url(shop: NewShop) -> str:
    return f"/api/v1/shops/{shop.shop.shop_id}/pins"


def put(http: httpx.Client, shop: NewShop, body: Any) -> httpx.Response:
    return http.put(url(shop), json=body, headers=auth(shop))


def get(http: httpx.Client, shop: NewShop) -> dict[str, Any]:
    response = http.get(url(shop), headers=auth(shop))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_pins_are_replaced_whole_and_read_back(http: httpx.Client, shop: NewShop) -> None:
    assert get(http, shop) == {"shop_id": shop.shop.shop_id, "pins": []}
    sent = [
        {"product_id": "p9", "for_product_id": None, "until": None},
        {"product_id": "p1", "for_product_id": "p2", "until": f"{NEXT_YEAR}-12-24"},
        {"product_id": 7300000000000000001, "until": f"{NEXT_YEAR}-06-01T10:30:00+02:00"},
        {"product_id": "p1"},
    ]
    response = put(http, shop, {"pins": sent})
    assert response.status_code == 200, response.text
    expected = [
        {"product_id": "p9", "for_product_id": None, "until": None, "active": True},
        {"product_id": "p1", "for_product_id": "p2", "until": f"{NEXT_YEAR}-12-25T00:00:00Z",
         "active": True},
        {"product_id": "7300000000000000001", "for_product_id": None,
         "until": f"{NEXT_YEAR}-06-01T08:30:00Z", "active": True},
        {"product_id": "p1", "for_product_id": None, "until": None, "active": True},
    ]
    assert response.json() == {"shop_id": shop.shop.shop_id, "pins": expected}
    assert get(http, shop)["pins"] == expected
    again = put(http, shop, get(http, shop))  # what GET answers may be sent back as it is
    assert again.status_code == 200 and again.json()["pins"] == expected
    cleared = put(http, shop, {"pins": []})
    assert cleared.status_code == 200 and cleared.json()["pins"] == []
    assert get(http, shop)["pins"] == []


def test_an_ended_pin_is_listed_as_not_active(http: httpx.Client, store: Store,
                                              shop: NewShop) -> None:
    ended = time.time() - 60
    store.run(lambda r: replace_pins(r, shop.shop.shop_id, [Pin("p1", None, ended, ended - 9),
                                                            Pin("p2", "p1", None, ended)]))
    listed = get(http, shop)["pins"]
    assert [(p["product_id"], p["active"]) for p in listed] == [("p1", False), ("p2", True)]
    assert listed[0]["until"].endswith("Z")


def _many(n: int) -> dict[str, Any]:
    return {"pins": [{"product_id": f"p{i}"} for i in range(n)]}


PAST = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
REFUSED = [
    ("not json", "JSON"),
    ([], "object with a list `pins`"),
    ({"product_ids": ["p1"]}, "object with a list `pins`"),
    ({"pins": {"product_id": "p1"}}, "object with a list `pins`"),
    ({"pins": [], "extra": 1}, "object with a list `pins`"),
    ({"pins": ["p1"]}, r"pins\[0\] must be an object"),
    ({"pins": [{"for_product_id": "p2"}]}, r"pins\[0\].product_id must be a non-empty"),
    ({"pins": [{"product_id": ""}]}, r"pins\[0\].product_id must be a non-empty"),
    ({"pins": [{"product_id": True}]}, "product_id"),
    ({"pins": [{"product_id": "x" * 129}]}, "printable characters"),
    ({"pins": [{"product_id": "p1", "for_product_id": ""}]}, "for_product_id"),
    ({"pins": [{"product_id": "p1", "for_product_id": ["p2"]}]}, "for_product_id"),
    ({"pins": [{"product_id": "p1", "for_product": "p2"}]}, "unknown fields for_product"),
    ({"pins": [{"product_id": "p1", "until": f"{NEXT_YEAR}-12-24T10:00:00"}]}, "time zone"),
    ({"pins": [{"product_id": "p1", "until": "next week"}]}, "ISO 8601"),
    ({"pins": [{"product_id": "p1", "until": 1_900_000_000}]}, "ISO 8601"),
    ({"pins": [{"product_id": "p1", "until": PAST}]}, "in the future"),
    ({"pins": [{"product_id": "p1", "until": "2150-01-01"}]}, "before 2100"),
    ({"pins": [{"product_id": "p1", "for_product_id": "p1"}]}, "pinned to itself"),
    ({"pins": [{"product_id": "p1"}, {"product_id": "p1", "for_product_id": None}]},
     "pinned everywhere twice"),
    ({"pins": [{"product_id": "p3", "for_product_id": "p4"}] * 2},
     "pinned for product 'p4' twice"),
    (_many(MAX_PINS + 1), f"at most {MAX_PINS}"),
    ({"pins": [{"product_id": "ok"}, {"product_id": "p1", "until": PAST}]},
     r"pins\[1\]: until must be in the future"),
]


@pytest.mark.parametrize("body, reason", REFUSED, ids=[str(n) for n in range(len(REFUSED))])
def test_every_bad_input_is_refused_with_why_and_nothing_stored(
        http: httpx.Client, store: Store, shop: NewShop, body: Any, reason: str) -> None:
    before = [{"product_id": "kept", "for_product_id": "p7", "until": f"{NEXT_YEAR}-01-31"}]
    assert put(http, shop, {"pins": before}).status_code == 200
    stored = store.run(lambda r: pins(r, shop.shop.shop_id))
    if isinstance(body, str):
        response = http.put(url(shop), content=body, headers=auth(shop))
    else:
        response = put(http, shop, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert re.search(reason, response.json()["detail"]), response.json()["detail"]
    assert store.run(lambda r: pins(r, shop.shop.shop_id)) == stored
    assert [p["product_id"] for p in get(http, shop)["pins"]] == ["kept"]


def test_the_bound_itself_is_accepted(http: httpx.Client, shop: NewShop) -> None:
    response = put(http, shop, _many(MAX_PINS))
    assert response.status_code == 200 and len(response.json()["pins"]) == MAX_PINS


def test_pins_need_the_shops_api_key(http: httpx.Client, shop: NewShop,
                                     make_shop: Any) -> None:
    assert put(http, shop, {"pins": [{"product_id": "mine"}]}).status_code == 200
    body = {"pins": [{"product_id": "theirs"}]}
    assert http.get(url(shop)).status_code == 401
    assert http.put(url(shop), json=body).status_code == 401
    wrong = {"Authorization": "Bearer sk_not_a_key"}
    assert http.put(url(shop), json=body, headers=wrong).status_code == 401
    other = make_shop()
    assert http.get(url(shop), headers=auth(other)).status_code == 403
    assert http.put(url(shop), json=body, headers=auth(other)).status_code == 403
    assert http.get("/api/v1/shops/no-such-shop/pins", headers=auth(shop)).status_code == 404
    assert [p["product_id"] for p in get(http, shop)["pins"]] == ["mine"]
    assert get(http, other)["pins"] == []
    for method in ("POST", "DELETE"):
        assert http.request(method, url(shop), headers=auth(shop)).status_code == 405


# ---- the API reference ----------------------------------------------------------------------

PATH = "/api/v1/shops/{shop_id}/pins"


def body_errors(doc: dict[str, Any], body: Any) -> list[str]:
    """What in `body` breaks the PUT body the reference declares (it holds no $ref)."""
    schema = doc["paths"][PATH]["put"]["requestBody"]["content"]["application/json"]["schema"]
    return [error.message for error in Draft202012Validator(schema).iter_errors(body)]


def test_every_answer_is_as_the_reference_describes(http: httpx.Client, store: Store,
                                                    shop: NewShop, make_shop: Any) -> None:
    doc = reference(http)
    empty = http.get(url(shop), headers=auth(shop))
    assert empty.json()["pins"] == [] and schema_errors(doc, "GET", PATH, empty) == []
    sent = {"shop_id": "ignored", "pins": [
        {"product_id": "p9", "for_product_id": None, "until": None},
        {"product_id": 7300000000000000001, "for_product_id": "p2",
         "until": f"{NEXT_YEAR}-12-24", "active": False},
        {"product_id": "p1", "until": f"{NEXT_YEAR}-06-01T10:30:00.5+02:00"},
    ]}
    assert body_errors(doc, sent) == []
    stored = put(http, shop, sent)
    assert stored.status_code == 200, stored.text
    assert schema_errors(doc, "PUT", PATH, stored) == []
    ended = time.time() - 60
    store.run(lambda r: replace_pins(r, shop.shop.shop_id, [
        Pin("p1", None, ended, ended - 9), Pin("p2", "p1", None, ended),
        Pin("p3", "p4", ended + 86400 * 400, ended)]))
    listed = http.get(url(shop), headers=auth(shop))
    assert [(p["until"] is None, p["for_product_id"], p["active"])
            for p in listed.json()["pins"]] == [(False, None, False), (True, "p1", True),
                                                 (False, "p4", True)]
    assert schema_errors(doc, "GET", PATH, listed) == []
    assert body_errors(doc, listed.json()) == []  # what GET answers may be sent back
    refusals = [
        http.put(url(shop), content="not json", headers=auth(shop)),
        put(http, shop, {"pins": [{"product_id": "p1", "until": PAST}]}),
        put(http, shop, _many(MAX_PINS + 1)),
        http.put(url(shop), content=b"x" * (store.settings.max_body_bytes + 1),
                 headers=auth(shop)),
        http.put(url(shop), json={"pins": []}),
        http.put(url(shop), json={"pins": []}, headers=auth(make_shop())),
        http.put("/api/v1/shops/no-such-shop/pins", json={"pins": []}, headers=auth(shop)),
    ]
    assert [r.status_code for r in refusals] == [400, 400, 400, 413, 401, 403, 404]
    for refused in refusals:
        assert schema_errors(doc, "PUT", PATH, refused) == []
    missing = http.get("/api/v1/shops/no-such-shop/pins", headers=auth(shop))
    assert missing.status_code == 404 and schema_errors(doc, "GET", PATH, missing) == []


@pytest.mark.parametrize("body", [
    [], {"pins": [], "extra": 1}, {"pins": [{"product_id": "p1", "for_product": "p2"}]},
    {"pins": [{"for_product_id": "p2"}]}, {"pins": [{"product_id": True}]},
    {"pins": [{"product_id": "p1", "until": 1_900_000_000}]}, _many(MAX_PINS + 1),
], ids=["list", "extra", "unknown-field", "no-product", "bool-id", "number-until", "too-many"])
def test_the_reference_refuses_bodies_the_server_refuses(http: httpx.Client, shop: NewShop,
                                                         body: Any) -> None:
    assert body_errors(reference(http), body) != []
    assert put(http, shop, body).status_code == 400


def test_the_reference_documents_every_field_with_a_valid_example(http: httpx.Client) -> None:
    doc = reference(http)
    assert undocumented(doc, PATH) == []
    operations = doc["paths"][PATH]
    assert (operations["get"]["security"], operations["put"]["security"]) == (
        [{"apiKey": ["catalog:read"]}], [{"apiKey": ["catalog:write"]}])
