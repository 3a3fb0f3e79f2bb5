"""CORS and HTTP caching of the public widget endpoints (widgets/cors.py): the headers for a
request's Origin, preflights, strong ETags and If-None-Match; then over real HTTP against the
live app."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from plugin.store.shops import Shop
from tests.helpers import eventually
from tests.widgets.conftest import PATH, widget
from widgets.cors import (
    MAX_AGE,
    PREFLIGHT_MAX_AGE,
    cached,
    cors_headers,
    etag_matches,
    preflight,
    strong_etag,
)


def request(**headers: str) -> Request:
    """A GET as Starlette hands it to an endpoint, with these headers."""
    return Request({"type": "http", "method": "GET", "path": PATH, "query_string": b"",
                    "headers": [(name.replace("_", "-").encode(), value.encode())
                                for name, value in headers.items()]})


@pytest.fixture
def registered(make_shop) -> Shop:
    return make_shop(origins=["http://localhost:8080"]).shop


# ---- the headers, from a request and a shop ----------------------------------------------------


def test_a_registered_origin_is_echoed_as_sent(registered) -> None:
    for origin in (f"https://{registered.domain}", "HTTP://LOCALHOST:8080"):
        assert cors_headers(request(origin=origin), registered) == {
            "Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://localhost:8080/",
                                    "*", "null"])
def test_any_other_request_is_told_only_that_the_answer_varies(registered, origin) -> None:
    sent = request() if origin is None else request(origin=origin)
    assert cors_headers(sent, registered) == {"Vary": "Origin"}


def test_a_preflight_allows_the_methods_for_a_registered_origin_only(registered) -> None:
    allowed = preflight(request(origin="http://localhost:8080"), registered, "GET, OPTIONS")
    assert allowed.status_code == 204 and allowed.body == b""
    assert {k: allowed.headers[k] for k in (
        "access-control-allow-origin", "access-control-allow-methods",
        "access-control-allow-headers", "access-control-max-age")} == {
        "access-control-allow-origin": "http://localhost:8080",
        "access-control-allow-methods": "GET, OPTIONS",
        "access-control-allow-headers": "Content-Type",
        "access-control-max-age": PREFLIGHT_MAX_AGE}
    refused = preflight(request(origin="https://evil.example"), registered, "GET, OPTIONS")
    assert refused.status_code == 204 and "access-control-allow-methods" not in refused.headers


def test_a_strong_etag_is_a_quoted_digest_of_the_body() -> None:
    etag = strong_etag(b'{"items": []}')
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert etag == strong_etag(b'{"items": []}') != strong_etag(b'{"items": [1]}')


@pytest.mark.parametrize(("header", "matches"), [
    ('"abc"', True), ('W/"abc"', True), ('"x", W/"abc" , "y"', True), ("*", True),
    ('"abcd"', False), ('"x", "y"', False), (None, False)])
def test_if_none_match_is_compared_weakly(header, matches) -> None:
    sent = request() if header is None else request(if_none_match=header)
    assert etag_matches(sent, '"abc"') is matches


def test_a_cached_answer_carries_its_etag_and_cache_control() -> None:
    answer = cached(request(), b"{}", '"e1"', {"Vary": "Origin"}, private=False)
    assert (answer.status_code, answer.body) == (200, b"{}")
    assert answer.headers["content-type"] == "application/json"
    assert (answer.headers["etag"], answer.headers["cache-control"], answer.headers["vary"]) == (
        '"e1"', f"public, max-age={MAX_AGE}", "Origin")
    personal = cached(request(), b"{}", '"e1"', {}, private=True)
    assert personal.headers["cache-control"] == f"private, max-age={MAX_AGE}"


def test_an_etag_the_browser_holds_gets_an_empty_304_with_the_cors_headers() -> None:
    cors = {"Access-Control-Allow-Origin": "https://a.example", "Vary": "Origin"}
    answer = cached(request(if_none_match='"e1"'), b"{}", '"e1"', cors, private=True)
    assert (answer.status_code, answer.body) == (304, b"")
    assert (answer.headers["etag"], answer.headers["access-control-allow-origin"]) == (
        '"e1"', "https://a.example")


# ---- over HTTP --------------------------------------------------------------------------------


def test_etag_and_304(http, euro_shop) -> None:
    first = widget(http, euro_shop, "bundle", product_id="101")
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "public, max-age=60"
    again = http.get(PATH, headers={"If-None-Match": etag}, params={
        "key": euro_shop.shop.widget_key, "placement": "bundle", "product_id": "101"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag


def test_changed_answer_gets_a_new_etag(http, euro_shop) -> None:
    one = widget(http, euro_shop, "bundle", product_id="101").headers["etag"]
    other = http.get(PATH, headers={"If-None-Match": one}, params={
        "key": euro_shop.shop.widget_key, "placement": "bundle", "product_id": "103"})
    assert other.status_code == 200 and other.headers["etag"] != one


def test_personal_answers_are_private(http, euro_shop) -> None:
    response = widget(http, euro_shop, "home", customer_id="0")
    assert response.headers["cache-control"] == "private, max-age=60"


@pytest.mark.parametrize("origin", ["https://{domain}", "http://localhost:8080"])
def test_registered_origins_are_allowed(http, euro_shop, origin) -> None:
    origin = origin.format(domain=euro_shop.shop.domain)
    response = http.get(PATH, headers={"Origin": origin}, params={
        "key": euro_shop.shop.widget_key, "placement": "trending"})
    assert response.headers["access-control-allow-origin"] == origin
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:8081", "null"])
def test_other_origins_get_no_cors_header(http, euro_shop, origin) -> None:
    response = http.get(PATH, headers={"Origin": origin}, params={
        "key": euro_shop.shop.widget_key, "placement": "trending"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_another_shops_origin_is_not_allowed(http, euro_shop, make_shop) -> None:
    other = make_shop()
    response = http.get(PATH, headers={"Origin": f"https://{other.shop.domain}"}, params={
        "key": euro_shop.shop.widget_key, "placement": "trending"})
    assert "access-control-allow-origin" not in response.headers


def test_preflight_for_a_registered_origin(http, euro_shop) -> None:
    response = http.options("/widgets/v1/events", params={"key": euro_shop.shop.widget_key},
                            headers={"Origin": "http://localhost:8080",
                                     "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:8080"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


def test_preflight_for_another_origin_is_not_allowed(http, euro_shop) -> None:
    response = http.options(PATH, params={"key": euro_shop.shop.widget_key},
                            headers={"Origin": "https://evil.example",
                                     "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_origin_added_later_is_allowed(http, store, shop) -> None:
    from plugin.store.shops import change_origins

    params = {"key": shop.shop.widget_key, "placement": "trending"}
    headers = {"Origin": "https://www.example.org"}
    assert "access-control-allow-origin" not in http.get(PATH, params=params,
                                                         headers=headers).headers
    store.run(lambda r: change_origins(r, shop.shop.shop_id, add=["https://www.example.org/"]))

    def allowed() -> None:  # the server's cache reads the change note within a refresh
        answer = http.get(PATH, params=params, headers=headers)
        assert answer.headers.get("access-control-allow-origin") == "https://www.example.org"

    eventually(allowed)
