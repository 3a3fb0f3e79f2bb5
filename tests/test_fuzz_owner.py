"""Property-based fuzzing (Hypothesis) of the owner's ways in: the dashboard (sign-in links,
every page with generated parameters, every form with generated fields, with and without the
session's CSRF token) and the Shopify app (install, callback, app home, progress and status,
with generated queries both unsigned and signed with the app's secret, and generated App Bridge
session tokens, both garbage and validly signed with mutated claims). Same properties as
tests/test_fuzz.py: never a 5xx, never a hang, a 4xx leaves the shop's data as it was.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st

from plugin.admin import sessions
from plugin.config import Secret
from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify import install as installing
from plugin.shopify.auth import query_hmac
from plugin.store.shops import NewShop, PlatformAccess, add_shop
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import order_payload, send_orders, train
from tests.test_fuzz import FUZZ, JSON_VALUE, NASTY, TIMEOUT, check, mutated

CLIENT_ID, SECRET = "0f1e2d3c4b5a69780f1e2d3c4b5a6978", "shpss_" + "1b2c3d4e5f6a7b8c" * 2
TEXT = st.text(max_size=40) | NASTY.filter(lambda v: "\ud800" not in v and "\udfff" not in v)
PAGES = ["/admin/", "/admin/recommendations", "/admin/health", "/admin/widgets",
         "/admin/customers", "/admin/customers.csv", "/admin/signin", "/admin/login",
         "/admin/shopify"]
FORMS = ["/admin/recommendations/excluded", "/admin/health/replay", "/admin/login",
         "/admin/recommendations/retrain", "/admin/logout", "/admin/password",
         "/admin/recommendations/pins", "/admin/recommendations/pins/remove"]
PAGE_PARAMS = st.dictionaries(st.sampled_from(
    ["stage", "placement", "product_id", "customer_id", "token", "expired", "saved", "training",
     "replayed", "days", "limit"]), TEXT, max_size=4)
FORM_FIELDS = st.dictionaries(st.sampled_from(
    ["csrf", "product_ids", "event_id", "token", "placement", "shop_id", "password",
     "product_id", "for_product_id", "until", "index"]), TEXT, max_size=4)


@pytest.fixture(scope="module")
def owner_shop(store: Store, base_url: str) -> NewShop:
    """A Shopify shop with orders, a model and the platform token an installed app holds."""
    shop_id = "own-" + uuid.uuid4().hex[:10]
    new = store.run(lambda redis: add_shop(
        redis, shop_id, "shopify", f"{shop_id}.myshopify.com", "http://testserver",
        currency="EUR", access=PlatformAccess(api_token=Secret("shpat_" + "0" * 32))))
    with httpx.Client(base_url=base_url, timeout=60) as http:
        send_orders(http, new, [order_payload(700 + n, n % 9, [101 + n % 5, 106 + n % 3])
                                for n in range(30)])
        # drains the accepted orders first: a snapshot taken while the worker still stores
        # them would differ from the next one whatever the fuzzed call did
        assert train(http, new).status_code == 200
    return new


def signed_in(store: Store, base_url: str, shop: NewShop) -> tuple[httpx.Client, str]:
    """A client signed in to `shop`'s dashboard and its session's CSRF token."""
    client = httpx.Client(base_url=base_url, timeout=TIMEOUT, follow_redirects=False)
    link = store.run(lambda r: sessions.login_link(r, base_url, shop.shop.shop_id))
    assert client.post("/admin/login", data={"token": link.rpartition("=")[2]}).status_code == 303
    found = store.run(lambda r: sessions.find(r, client.cookies.get(sessions.COOKIE)))
    assert found is not None
    return client, found.csrf


@FUZZ
@given(path=st.sampled_from(PAGES), params=PAGE_PARAMS, with_session=st.booleans())
def test_admin_pages(store, base_url, owner_shop, path, params, with_session) -> None:
    client, _ = signed_in(store, base_url, owner_shop)
    try:
        if not with_session:
            client.cookies.clear()
        check(store, owner_shop, lambda: client.get(path, params=params))
    finally:
        client.close()


@FUZZ
@given(path=st.sampled_from(FORMS), fields=FORM_FIELDS, real_csrf=st.booleans(),
       raw=st.none() | st.binary(max_size=200),
       content_type=st.sampled_from(["application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=x", "multipart/form-data",
                                     "text/plain"]))
def test_admin_forms(store, base_url, owner_shop, path, fields, real_csrf, raw,
                     content_type) -> None:
    """A real CSRF token is sent only to forms whose work finishes within the request (no
    training or replay left running to change the shop under the next example)."""
    client, csrf = signed_in(store, base_url, owner_shop)
    synchronous = path in {"/admin/recommendations/excluded", "/admin/logout", "/admin/login",
                           "/admin/recommendations/pins", "/admin/recommendations/pins/remove"}
    if real_csrf and synchronous:
        fields = {**fields, "csrf": csrf}
    try:
        if raw is None:
            check(store, owner_shop, lambda: client.post(path, data=fields))
        else:
            check(store, owner_shop, lambda: client.post(
                path, content=raw, headers={"Content-Type": content_type}))
    finally:
        client.close()


# ---- the Shopify app ---------------------------------------------------------------------------

class AppServer:
    """FakeShopify under uvicorn in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def shopify_app(store: Store) -> Iterator[str]:
    """Our server with a Shopify app configured, against a local fake Shopify."""
    fake = FakeShopify(CLIENT_ID, SECRET)
    with AppServer(fake.app) as fake_url:
        port = free_port()
        settings = settings_for(store, shopify_client_id=CLIENT_ID,
                                shopify_client_secret=Secret(SECRET),
                                shopify_base_url=fake_url + "/{shop}",
                                public_url=f"http://127.0.0.1:{port}")
        with LiveServer(settings, port=port) as url:
            yield url


def claims(domain: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": CLIENT_ID,
            "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}


def session_token(domain: str) -> st.SearchStrategy[str]:
    """Garbage, or a token signed with the app's secret whose claims have one value changed."""
    return TEXT | mutated(claims(domain)).map(  # any JSON as the payload, signed as it is
        lambda body: jwt.PyJWS().encode(json.dumps(body).encode(), SECRET, algorithm="HS256"))


def sendable(value: str) -> str:
    """What an HTTP client can put in a header: printable ASCII, no space at either end (h11
    refuses a header value that ends in one, e.g. a cookie of " ")."""
    return "".join(c for c in value if " " <= c <= "~").strip()


QUERY_NAMES = st.sampled_from(["shop", "timestamp", "hmac", "host", "code", "state", "id_token",
                               "embedded", "exp", "sig", "hmac", "signature"])


@st.composite
def shopify_query(draw: st.DrawFn, domain: str) -> list[tuple[str, str]]:
    query = [("shop", draw(st.sampled_from([domain, "new-" + domain]) | TEXT)),
             ("timestamp", draw(st.sampled_from([str(int(time.time()))]) | TEXT))]
    query += draw(st.lists(st.tuples(QUERY_NAMES, TEXT), max_size=3))
    if draw(st.booleans()):
        query.append(("id_token", draw(session_token(domain))))
    if draw(st.booleans()):  # signed as Shopify signs, so the checks after the hmac run
        query = [(k, v) for k, v in query if k != "hmac"] + [("hmac", query_hmac(query, SECRET))]
    return query


@FUZZ
@given(data=st.data(), path=st.sampled_from(["/shopify/install", "/shopify/callback",
                                             "/shopify/app", "/shopify/progress"]),
       cookie=st.none() | TEXT)
def test_shopify_app_pages(store, shopify_app, owner_shop, data, path, cookie) -> None:
    query = data.draw(shopify_query(owner_shop.shop.domain))
    with httpx.Client(base_url=shopify_app, timeout=TIMEOUT, follow_redirects=False) as client:
        if cookie is not None:
            client.cookies.set(installing.STATE_COOKIE, sendable(cookie), path="/shopify")
        check(store, owner_shop, lambda: client.get(path, params=query))


@FUZZ
@given(data=st.data(), scheme=st.sampled_from(["Bearer", "bearer", "Basic", ""]))
def test_shopify_status(store, shopify_app, owner_shop, data, scheme) -> None:
    token = data.draw(session_token(owner_shop.shop.domain) | JSON_VALUE.map(str))
    value = sendable(f"{scheme} {token}").strip()
    with httpx.Client(base_url=shopify_app, timeout=TIMEOUT) as client:
        check(store, owner_shop, lambda: client.get("/shopify/api/status",
                                                    headers={"Authorization": value}))
