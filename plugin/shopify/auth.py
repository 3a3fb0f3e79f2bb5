"""What Shopify signs for an app: install and callback query strings (hex HMAC) and App
Bridge session tokens (JWT, HS256). Both are signed with the app's client secret.

Facts (https://shopify.dev/docs/apps/build/authentication-authorization): the query's `hmac`
is the hex HMAC-SHA256 of the other parameters sorted by name and joined as `name=value` with
`&` (a repeated name becomes `name=["a", "b"]`); the shop must be a `*.myshopify.com` host
name. A session token carries `iss` = https://{shop}/admin, `dest` = https://{shop}, `aud` =
the client id, `sub` = the user, `exp` a minute after `iat`, and `nbf`; Shopify's own
libraries allow 10 s of clock skew, and so do we.

PyJWT checks the signature, `exp`, `nbf` (with the leeway), `aud` and that the claims are
present: a well-kept implementation of exactly the JWT rules, including refusing every
algorithm but HS256 (no `alg: none`, no key confusion).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

MYSHOPIFY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com\Z")
LEEWAY_SECONDS = 10
QUERY_MAX_AGE_SECONDS = 300  # an install link older than this is refused (replayed links)


class ShopifyAuthError(ValueError):
    """Shopify's signature or a claim does not hold; the message says which (never the
    secret or the token)."""


def shop_domain(raw: str | None) -> str:
    """The shop's myshopify.com host name, lower-cased; ShopifyAuthError for anything else."""
    if not raw or not MYSHOPIFY.match(raw):
        raise ShopifyAuthError("shop must be a store's myshopify.com host name, e.g. "
                               "my-shop.myshopify.com")
    return raw.lower()


def query_message(query: Sequence[tuple[str, str]]) -> str:
    """The signed message of a query string: every parameter but `hmac` (and the legacy
    `signature`), sorted by name, `name=value` joined with `&`."""
    values: dict[str, list[str]] = {}
    for name, value in query:
        if name not in {"hmac", "signature"}:
            values.setdefault(name, []).append(value)
    parts = []
    for name in sorted(values):
        found = values[name]
        shown = found[0] if len(found) == 1 else "[" + ", ".join(f'"{v}"' for v in found) + "]"
        parts.append(f"{name}={shown}")
    return "&".join(parts)


def query_hmac(query: Sequence[tuple[str, str]], secret: str) -> str:
    return hmac.new(secret.encode(), query_message(query).encode(), hashlib.sha256).hexdigest()


def check_query(query: Sequence[tuple[str, str]], secret: str,
                now: float | None = None) -> str:
    """Check a signed install or callback query; the shop's domain. ShopifyAuthError when the
    signature, the shop or the timestamp does not hold."""
    given = [value for name, value in query if name == "hmac"]
    if len(given) != 1 or not secret:
        raise ShopifyAuthError("the request is not signed by Shopify (one hmac parameter)")
    if not hmac.compare_digest(query_hmac(query, secret).encode(), given[0].lower().encode()):
        raise ShopifyAuthError("the hmac does not match this app's client secret")
    fields = dict(query)
    domain = shop_domain(fields.get("shop"))
    try:
        stamp = int(fields.get("timestamp", ""))
    except ValueError:
        raise ShopifyAuthError("timestamp must be Unix seconds") from None
    age = (time.time() if now is None else now) - stamp
    if not -LEEWAY_SECONDS <= age <= QUERY_MAX_AGE_SECONDS:
        raise ShopifyAuthError(f"the link is too old or from the future: its timestamp is "
                               f"{age:.0f} s from now (at most {QUERY_MAX_AGE_SECONDS} s)")
    return domain


@dataclass(frozen=True)
class SessionClaims:
    shop: str  # myshopify.com host name
    user: str  # `sub`: the staff member's id ("" when absent)
    session: str  # `sid`


def session_claims(token: str, client_id: str, secret: str) -> SessionClaims:
    """The claims of an App Bridge session token after every check; ShopifyAuthError."""
    if not client_id or not secret:
        raise ShopifyAuthError("the Shopify app is not configured here "
                               "(SHOPRECO_SHOPIFY_CLIENT_ID and _CLIENT_SECRET)")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=client_id,
                            leeway=LEEWAY_SECONDS,
                            options={"require": ["exp", "nbf", "iss", "dest", "aud"]})
    except jwt.ExpiredSignatureError:
        raise ShopifyAuthError("the session token has expired: ask App Bridge for a new "
                               "one") from None
    except jwt.ImmatureSignatureError:
        raise ShopifyAuthError("the session token is not valid yet (nbf)") from None
    except jwt.InvalidAudienceError:
        raise ShopifyAuthError("the session token was issued for another app") from None
    except jwt.InvalidTokenError:
        raise ShopifyAuthError("the session token is not a valid token signed with this "
                               "app's client secret") from None
    dest = urlsplit(str(claims["dest"]))
    issuer = urlsplit(str(claims["iss"]))
    domain = shop_domain(dest.hostname)
    if dest.scheme != "https" or issuer.hostname != dest.hostname or issuer.path != "/admin":
        raise ShopifyAuthError("the session token's iss and dest do not name the same shop")
    return SessionClaims(domain, str(claims.get("sub") or ""), str(claims.get("sid") or ""))
