"""The developer API's key check (plugin/web/auth.py) over real HTTP: `Authorization: Bearer
<api_key>` of the shop in the path, before anything else is done; the handler's refusals as
problem+json."""

from __future__ import annotations

import httpx
import pytest

from plugin.store.shops import NewShop, issue_api_key
from tests.conftest import Store
from tests.helpers import auth, eventually


def trending(shop_id: str) -> str:
    return f"/api/v1/shops/{shop_id}/recommendations/trending"


def test_missing_api_key_is_401(http, shop) -> None:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/trending")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_wrong_api_key_is_401(http, shop) -> None:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/trending",
                        headers={"Authorization": "Bearer sk_nope"})
    assert response.status_code == 401


def test_another_shops_key_is_403(http, make_shop) -> None:
    mine, theirs = make_shop(), make_shop()
    response = http.get(f"/api/v1/shops/{theirs.shop.shop_id}/recommendations/trending",
                        headers=auth(mine))
    assert response.status_code == 403


def test_unknown_shop_is_404(http, shop) -> None:
    response = http.get("/api/v1/shops/no-such-shop/recommendations/trending", headers=auth(shop))
    assert response.status_code == 404


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(http: httpx.Client, shop: NewShop, scheme: str) -> None:
    answer = http.get(trending(shop.shop.shop_id),
                      headers={"Authorization": f"{scheme} {shop.api_key}"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer\t{key}",
                                    "Token {key}", "{key}"])
def test_anything_but_a_bearer_key_is_401_saying_what_to_send(http: httpx.Client, shop: NewShop,
                                                              header: str) -> None:
    answer = http.get(trending(shop.shop.shop_id),
                      headers={"Authorization": header.format(key=shop.api_key)})
    assert answer.status_code == 401
    assert "Authorization: Bearer <api_key>" in answer.json()["detail"]


def test_refusals_name_the_shop(http: httpx.Client, make_shop) -> None:
    mine, theirs = make_shop(), make_shop()
    wrong = http.get(trending(mine.shop.shop_id), headers={"Authorization": "Bearer sk_nope"})
    assert wrong.json()["detail"] == f"the API key is not valid for shop {mine.shop.shop_id!r}"
    foreign = http.get(trending(theirs.shop.shop_id), headers=auth(mine))
    assert theirs.shop.shop_id in foreign.json()["detail"]
    assert "another shop" in foreign.json()["detail"]
    assert mine.api_key not in foreign.text
    unknown = http.get(trending("no such shop"), headers=auth(mine))
    assert unknown.status_code == 404 and "'no such shop'" in unknown.json()["detail"]


def test_a_new_key_works_at_once_and_the_old_one_stops(http: httpx.Client, store: Store,
                                                       shop: NewShop) -> None:
    url = trending(shop.shop.shop_id)
    assert http.get(url, headers=auth(shop)).status_code == 200  # the server holds the shop
    new_key = store.run(lambda r: issue_api_key(r, shop.shop.shop_id))
    assert http.get(url, headers={"Authorization": f"Bearer {new_key}"}).status_code == 200

    def old_refused() -> None:
        assert http.get(url, headers=auth(shop)).status_code == 401

    eventually(old_refused)


def test_the_key_is_checked_before_the_body_is_read(http: httpx.Client, shop: NewShop) -> None:
    url = f"/api/v1/shops/{shop.shop.shop_id}/recommendations/cart"
    oversized = b"[" * (64 * 1024 + 1)
    assert http.post(url, content=oversized).status_code == 401
    assert http.post(url, content=oversized,
                     headers={"Authorization": "Bearer sk_nope"}).status_code == 401
    assert http.post(url, content=oversized, headers=auth(shop)).status_code == 413


def test_a_handlers_bad_request_is_a_400_problem(http: httpx.Client, shop: NewShop) -> None:
    answer = http.get(trending(shop.shop.shop_id), params={"limit": "0"}, headers=auth(shop))
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {"type": "/api/docs/problems#invalid-request",
                             "title": "Bad Request", "status": 400,
                             "detail": "limit must be an integer from 1 to 100, got '0'"}
