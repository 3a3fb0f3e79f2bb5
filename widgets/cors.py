"""CORS and HTTP caching of the public widget endpoints.

A browser may read an answer only from a page on one of the shop's registered origins: the
request's Origin is echoed back for those and for nobody else (no wildcard)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

from plugin.store.shops import Shop, allowed_origins

PREFLIGHT_MAX_AGE = "600"
MAX_AGE = 60


def cors_headers(request: Request, shop: Shop) -> dict[str, str]:
    """ACAO for a registered origin; Vary: Origin always (the answer depends on it)."""
    origin = request.headers.get("origin")
    if origin is None or origin.lower() not in allowed_origins(shop):
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight(request: Request, shop: Shop, methods: str) -> Response:
    """Answer an OPTIONS preflight: allowed only for the shop's registered origins."""
    headers = cors_headers(request, shop)
    if "Access-Control-Allow-Origin" in headers:
        headers.update({
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        })
    return Response(status_code=204, headers=headers)


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(request: Request, etag: str) -> bool:
    """If-None-Match holds the ETag (weak comparison, as RFC 9110 asks for this header)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def cached(
    request: Request, body: bytes, etag: str, headers: dict[str, str], private: bool
) -> Response:
    """A JSON answer with its ETag and Cache-Control; an If-None-Match that matches gets an
    empty 304 (with the CORS headers)."""
    cache_control = f"{'private' if private else 'public'}, max-age={MAX_AGE}"
    headers = {**headers, "ETag": etag, "Cache-Control": cache_control}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")
