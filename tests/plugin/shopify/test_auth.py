"""Shopify's install-query HMAC and App Bridge session tokens (plugin.shopify.auth)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from plugin.shopify.auth import (
    ShopifyAuthError,
    check_query,
    query_hmac,
    query_message,
    session_claims,
    shop_domain,
)

# Shopify's documented example (PLATFORMS.md): secret "hush", hex HMAC 4712bf92...d4d20
DOC_QUERY = [("code", "0907a61c0c8d55e99db179b68161bc00"), ("shop", "some-shop.myshopify.com"),
             ("timestamp", "1337178173")]
DOC_HMAC = "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
CLIENT_ID, SECRET = "a61950a2cbd5f32876b0b55587ec7a27", "shpss_" + "5f0e8c1d2b3a4968" * 2


def test_the_documented_vector() -> None:
    assert query_hmac([*DOC_QUERY, ("hmac", "x")], "hush") == DOC_HMAC
    assert query_hmac(list(reversed(DOC_QUERY)), "hush") == DOC_HMAC  # sorted by name
    assert check_query([("hmac", DOC_HMAC), *DOC_QUERY], "hush",
                       now=1337178173 + 5) == "some-shop.myshopify.com"


def test_repeated_parameters_are_signed_as_a_list() -> None:
    assert query_message([("ids[]", "1"), ("ids[]", "2"), ("a", "x")]) == 'a=x&ids[]=["1", "2"]'


def signed(query: list[tuple[str, str]], secret: str = SECRET) -> list[tuple[str, str]]:
    return [*query, ("hmac", query_hmac(query, secret))]


@pytest.mark.parametrize(("query", "message"), [
    ([("shop", "a.myshopify.com"), ("timestamp", "{now}"), ("hmac", "00" * 32)], "does not match"),
    ([("shop", "a.myshopify.com"), ("timestamp", "{now}")], "one hmac"),
    ([("shop", "evil.example.com"), ("timestamp", "{now}"), "sign"], "myshopify.com"),
    ([("shop", "a.myshopify.com"), ("timestamp", "{old}"), "sign"], "too old"),
    ([("shop", "a.myshopify.com"), ("timestamp", "soon"), "sign"], "Unix seconds"),
    ([("shop", "a.myshopify.com.evil.io"), ("timestamp", "{now}"), "sign"], "myshopify.com"),
])
def test_bad_queries_are_refused_with_the_reason(query: list[Any], message: str) -> None:
    now = int(time.time())
    filled = [(k, v.format(now=now, old=now - 3600)) for k, v in
              (item for item in query if item != "sign")]
    if "sign" in query:
        filled = signed(filled)
    with pytest.raises(ShopifyAuthError, match=message) as refused:
        check_query(filled, SECRET)
    assert SECRET not in str(refused.value)


def test_a_tampered_parameter_breaks_the_signature() -> None:
    query = signed([("shop", "a.myshopify.com"), ("timestamp", str(int(time.time())))])
    tampered = [("shop", "b.myshopify.com") if k == "shop" else (k, v) for k, v in query]
    assert check_query(query, SECRET) == "a.myshopify.com"
    with pytest.raises(ShopifyAuthError, match="does not match"):
        check_query(tampered, SECRET)


def token(secret: str = SECRET, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "https://my-shop.myshopify.com/admin", "dest": "https://my-shop.myshopify.com",
        "aud": CLIENT_ID, "sub": "42", "exp": now + 60, "nbf": now - 1, "iat": now - 1,
        "jti": "f8912129-1af6-4cad-9ca3-76b0f7621087", "sid": "aaea1"}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, "HS256")


def test_a_valid_session_token_names_the_shop_and_user() -> None:
    claims = session_claims(token(), CLIENT_ID, SECRET)
    assert (claims.shop, claims.user, claims.session) == ("my-shop.myshopify.com", "42", "aaea1")
    now = int(time.time())  # a few seconds of clock skew are allowed
    assert session_claims(token(exp=now - 5, nbf=now + 5), CLIENT_ID, SECRET).shop


@pytest.mark.parametrize(("made", "message"), [
    (lambda: token(exp=int(time.time()) - 30), "expired"),
    (lambda: token(nbf=int(time.time()) + 60), "not valid yet"),
    (lambda: token(aud="another-app"), "another app"),
    (lambda: token(secret="not-our-secret-" * 3), "signed with this app"),
    (lambda: token(dest=None), "signed with this app"),  # a required claim missing
    (lambda: token(dest="https://evil.example.com"), "myshopify.com"),
    (lambda: token(iss="https://other.myshopify.com/admin"), "same shop"),
    (lambda: token(dest="http://my-shop.myshopify.com"), "same shop"),
    (lambda: jwt.encode({"dest": "https://my-shop.myshopify.com"}, None, "none"),
     "signed with this app"),
    (lambda: "not a token", "signed with this app"),
])
def test_bad_session_tokens_are_refused_with_the_reason(made: Any, message: str) -> None:
    raw = made()
    with pytest.raises(ShopifyAuthError, match=message) as refused:
        session_claims(raw, CLIENT_ID, SECRET)
    assert SECRET not in str(refused.value) and raw not in str(refused.value)


def test_no_app_configured_refuses_every_token() -> None:
    with pytest.raises(ShopifyAuthError, match="SHOPRECO_SHOPIFY_CLIENT_ID"):
        session_claims(token(), "", "")


def test_shop_domains_are_myshopify_host_names_only() -> None:
    assert shop_domain("My-Shop.myshopify.com") == "my-shop.myshopify.com"
    for bad in ("", None, "-x.myshopify.com", "x.myshopify.com/admin", "x.myshopify.com.io",
                "https://x.myshopify.com", "x_y.myshopify.com"):
        with pytest.raises(ShopifyAuthError):
            shop_domain(bad)
