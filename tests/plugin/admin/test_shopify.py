"""Signing in to the dashboard from the Shopify admin (plugin/admin/shopify.py): Shopify's
signed query and an App Bridge session token open a session framed by that shop's admin only;
every forged, expired, replayed or foreign sign-in is refused and starts nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from plugin.admin import sessions
from plugin.config import Secret
from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify.auth import query_hmac
from plugin.store import keys
from plugin.store.records import mark_uninstalled
from plugin.store.shops import NewShop, PlatformAccess, add_shop
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.plugin.admin.conftest import fill

CLIENT_ID, SECRET = "7a6b5c4d3e2f10987a6b5c4d3e2f1098", "shpss_" + "5e4d3c2b1a0f9e8d" * 2
FAKE = FakeShopify(CLIENT_ID, SECRET)  # only mints what Shopify would send: no server


@pytest.fixture(scope="module")
def ours(store: Store) -> Iterator[str]:
    port = free_port()
    settings = settings_for(store, shopify_client_id=CLIENT_ID,
                            shopify_client_secret=Secret(SECRET),
                            public_url=f"http://127.0.0.1:{port}")
    with LiveServer(settings, port=port) as url:
        yield url


def installed(store: Store) -> NewShop:
    shop_id = "sh-" + uuid.uuid4().hex[:10]
    shop = store.run(lambda r: add_shop(
        r, shop_id, "shopify", f"{shop_id}.myshopify.com", "http://testserver", currency="EUR",
        access=PlatformAccess(api_token=Secret("shpat_" + "1" * 32))))
    fill(store, shop, 12)
    return shop


def opened(domain: str, token: str | None = None, **changes: str) -> str:
    """The dashboard's URL as the Shopify admin opens it: the query signed with the secret."""
    params = {"embedded": "1", "host": "YWRtaW4", "id_token": token or FAKE.session_token(domain),
              "shop": domain, "timestamp": str(int(time.time())), **changes}
    return f"/admin/shopify?{FAKE.signed(params)}"


def sessions_of(store: Store, shop_id: str) -> int:
    async def count(redis: Any) -> int:
        found = 0
        async for key in redis.scan_iter(match=keys.admin_session("*"), count=500):
            if (await redis.hget(key, "shop_id")) == shop_id.encode():
                found += 1
        return found
    return store.run(count)


def test_the_shopify_admin_opens_the_shops_dashboard_framed_by_it(store, ours) -> None:
    shop = installed(store)
    domain = shop.shop.domain
    with httpx.Client(base_url=ours, timeout=30) as client:
        signed = client.get(opened(domain))
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Path=/admin" in cookie
        page = client.get("/admin/")
        assert page.status_code == 200 and shop.shop.shop_id in page.text
        assert page.headers["content-security-policy"] == (
            f"frame-ancestors https://{domain} https://admin.shopify.com;")
        assert "x-frame-options" not in page.headers
        session = store.run(lambda r: sessions.find(r, client.cookies.get(sessions.COOKIE)))
        assert session is not None and session.frame_domain == domain


def test_a_link_signed_in_session_may_not_be_framed(store, ours) -> None:
    shop = installed(store)
    link = store.run(lambda r: sessions.login_link(r, ours, shop.shop.shop_id))
    with httpx.Client(base_url=ours, timeout=30) as client:
        client.post("/admin/login", data={"token": link.rpartition("=")[2]})
        page = client.get("/admin/")
        assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
        assert page.headers["content-security-policy"] == "frame-ancestors 'none';"


def forged_token(domain: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": CLIENT_ID,
            "sub": "1", "exp": now + 60, "nbf": now - 1, "iat": now - 1, "jti": "j", "sid": "s"}
    body.update(claims)
    secret = body.pop("secret", SECRET)
    return jwt.encode(body, secret, "HS256")


@pytest.mark.parametrize(("case", "status", "says"), [
    ("bad hmac", 401, "hmac does not match"),
    ("old timestamp", 401, "too old"),
    ("token of another app", 401, "another app"),
    ("token signed with another secret", 401, "not a valid token"),
    ("expired token", 401, "expired"),
    ("token for another shop", 401, "another shop"),
    ("no token", 401, "not a valid token"),
])
def test_forged_or_stale_sign_ins_are_refused_and_start_nothing(store, ours, case, status,
                                                                 says) -> None:
    shop = installed(store)
    domain = shop.shop.domain
    url = {
        "bad hmac": opened(domain).replace("hmac=", "hmac=00"),
        "old timestamp": opened(domain, timestamp=str(int(time.time()) - 3600)),
        "token of another app": opened(domain, forged_token(domain, aud="someone-else")),
        "token signed with another secret": opened(domain, forged_token(domain, secret="x" * 40)),
        "expired token": opened(domain, forged_token(domain, exp=int(time.time()) - 600)),
        "token for another shop": opened(domain, FAKE.session_token("other.myshopify.com")),
        "no token": opened(domain, id_token=""),
    }[case]
    with httpx.Client(base_url=ours, timeout=30) as client:
        answer = client.get(url)
        assert answer.status_code == status and says in answer.text
        assert "set-cookie" not in answer.headers
        assert client.get("/admin/").status_code == 303  # back to sign-in
    assert sessions_of(store, shop.shop.shop_id) == 0


def test_a_session_token_signs_in_once(store, ours) -> None:
    shop = installed(store)
    url = opened(shop.shop.domain)
    with httpx.Client(base_url=ours, timeout=30) as first, \
            httpx.Client(base_url=ours, timeout=30) as second:
        assert first.get(url).status_code == 303
        replayed = second.get(url)
        assert replayed.status_code == 401 and "used already" in replayed.text
    assert sessions_of(store, shop.shop.shop_id) == 1


def test_a_shop_that_is_not_installed_gets_no_session(store, ours) -> None:
    never = f"never-{uuid.uuid4().hex[:8]}.myshopify.com"
    shop = installed(store)
    store.run(lambda r: mark_uninstalled(r, shop.shop.shop_id, time.time()))
    with httpx.Client(base_url=ours, timeout=30) as client:
        for domain in (never, shop.shop.domain):
            answer = client.get(opened(domain))
            assert answer.status_code == 403 and "not installed" in answer.text
    assert sessions_of(store, shop.shop.shop_id) == 0


def test_without_a_shopify_app_the_page_is_not_there(store, http) -> None:
    shop = installed(store)
    answer = http.get(opened(shop.shop.domain), follow_redirects=False)
    assert answer.status_code == 404 and "SHOPRECO_SHOPIFY_CLIENT_ID" in answer.text


def test_on_https_the_cookie_is_kept_inside_the_shopify_admins_frame(store) -> None:
    """SameSite=None; Secure; Partitioned (CHIPS): sent in Shopify's iframe, nowhere else."""
    shop = installed(store)
    settings = settings_for(store, shopify_client_id=CLIENT_ID,
                            shopify_client_secret=Secret(SECRET),
                            public_url="https://reco.example.com")
    with LiveServer(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        cookie = client.get(opened(shop.shop.domain)).headers["set-cookie"]
    assert all(part in cookie for part in ("SameSite=none", "Secure", "Partitioned",
                                           "HttpOnly")), cookie


def test_query_signing_matches_shopifys(store) -> None:
    """The fake signs as Shopify does (the same function checks it): sorted, hmac left out."""
    query = [("shop", "a.myshopify.com"), ("timestamp", "1"), ("host", "x")]
    assert f"hmac={query_hmac(query, SECRET)}" in FAKE.signed(dict(query))
    assert urlencode(query) in FAKE.signed(dict(query))
