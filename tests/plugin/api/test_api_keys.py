"""API keys over real HTTP: an admin key makes scoped keys; a call outside a key's scopes is
403 naming the scope; rotation keeps the old key for the overlap; revocation stops it; last use
is listed; every answer keeps the reference."""

from __future__ import annotations

import httpx

from plugin.store.shops import NewShop
from tests.helpers import auth
from tests.openapi_check import reference, schema_errors

KEYS = "/api/v1/shops/{shop_id}/keys"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def create(http: httpx.Client, shop: NewShop, name: str, scopes: list[str]) -> httpx.Response:
    return http.post(f"/api/v1/shops/{shop.shop.shop_id}/keys", headers=auth(shop),
                     json={"name": name, "scopes": scopes})


def test_a_scoped_key_calls_what_its_scopes_allow_and_is_told_what_it_lacks(http, shop) -> None:
    doc = reference(http)
    made = create(http, shop, "storefront", ["recommendations:read"])
    assert made.status_code == 201, made.text
    assert schema_errors(doc, "POST", KEYS, made) == []
    secret = made.json()["api_key"]
    base = f"/api/v1/shops/{shop.shop.shop_id}"
    assert http.get(f"{base}/recommendations/trending", headers=bearer(secret)).status_code == 200
    for method, path, scope in [("GET", "/lifecycle/metrics", "lifecycle:read"),
                                ("GET", "/keys", "admin"),
                                ("PUT", "/exclusions", "catalog:write"),
                                ("GET", "/customers/1/data", "privacy"),
                                ("POST", "/model/train", "admin")]:
        refused = http.request(method, base + path, headers=bearer(secret), json={})
        assert refused.status_code == 403, (path, refused.text)
        assert f"lacks the scope '{scope}'" in refused.json()["detail"]
        assert refused.json()["type"] == "/api/docs/problems#missing-scope"
        assert "storefront" in refused.json()["detail"] and secret not in refused.text
    listed = http.get(f"{base}/keys", headers=auth(shop))
    assert schema_errors(doc, "GET", KEYS, listed) == []
    by_name = {k["name"]: k for k in listed.json()["keys"]}
    assert set(by_name) == {"default", "storefront"}
    assert by_name["storefront"]["last_used_at"] is not None  # it was used above
    assert secret not in listed.text


def test_rotation_overlaps_and_revocation_stops_the_key_at_once(http, shop) -> None:
    doc = reference(http)
    base = f"/api/v1/shops/{shop.shop.shop_id}"
    made = create(http, shop, "nightly export", ["lifecycle:read"]).json()
    old, key_id = made["api_key"], made["key"]["key_id"]
    rotated = http.post(f"{base}/keys/{key_id}/rotate", headers=auth(shop),
                        json={"overlap_seconds": 600})
    assert rotated.status_code == 201
    assert schema_errors(doc, "POST", KEYS + "/{key_id}/rotate", rotated) == []
    new = rotated.json()["api_key"]
    for secret in (old, new):  # both work during the overlap
        assert http.get(f"{base}/lifecycle/stages", headers=bearer(secret)).status_code == 200
    listed = http.get(f"{base}/keys", headers=auth(shop)).json()["keys"]
    ending = [k for k in listed if k["key_id"] == key_id]
    assert ending and ending[0]["expires_at"] is not None
    revoked = http.delete(f"{base}/keys/{key_id}", headers=auth(shop))
    assert revoked.status_code == 200 and revoked.json()["revoked"]["key_id"] == key_id
    assert schema_errors(doc, "DELETE", KEYS + "/{key_id}", revoked) == []
    gone = http.get(f"{base}/lifecycle/stages", headers=bearer(old))
    assert gone.status_code == 401 and gone.json()["type"] == "/api/docs/problems#invalid-key"
    assert http.get(f"{base}/lifecycle/stages", headers=bearer(new)).status_code == 200


def test_refusals_name_what_is_wrong_and_change_nothing(http, shop, make_shop) -> None:
    doc = reference(http)
    base = f"/api/v1/shops/{shop.shop.shop_id}"
    cases = [
        ("POST", KEYS, "/keys", {"name": "x", "scopes": ["root"]}, 400, "unknown scope"),
        ("POST", KEYS, "/keys", {"name": "x"}, 400, "a list of scopes"),
        ("POST", KEYS, "/keys", {"name": "", "scopes": ["admin"]}, 400, "1 to 80"),
        ("POST", KEYS + "/{key_id}/rotate", "/keys/key_nope/rotate", {}, 404, "no API key"),
        ("POST", KEYS + "/{key_id}/rotate", "/keys/default/rotate",
         {"overlap_seconds": -1}, 400, "overlap"),
        ("POST", KEYS + "/{key_id}/rotate", "/keys/default/rotate",
         {"overlap_seconds": "1"}, 400, "integer overlap_seconds"),
        ("DELETE", KEYS + "/{key_id}", "/keys/key_nope", None, 404, "no API key"),
    ]
    for method, template, path, body, status, words in cases:
        response = http.request(method, base + path, headers=auth(shop), json=body)
        assert response.status_code == status, (path, response.text)
        assert words in response.json()["detail"]
        assert schema_errors(doc, method, template, response) == []
    other = make_shop()
    stranger = http.get(f"{base}/keys", headers=auth(other))
    assert stranger.status_code == 403 and "another shop" in stranger.json()["detail"]
    assert stranger.json()["type"] == "/api/docs/problems#other-shop-key"
    assert [k["key_id"] for k in http.get(f"{base}/keys", headers=auth(shop)).json()["keys"]] \
        == ["default"]
