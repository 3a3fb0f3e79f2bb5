"""The Shopify app's pages (plugin/shopify/routes.py) against a local fake Shopify: the install
link, the callback's and the embedded app's refusals, the signed progress link, the embedded
admin's status call, and the landing page."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from plugin.config import Secret, Settings
from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify import install as installing
from plugin.shopify.routes import progress_signature
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import eventually
from tests.plugin.shopify.conftest import (
    CLIENT_ID,
    SECRET,
    _done,
    code_grant,
    new_domain,
    registered,
    signed_query,
)


def test_the_progress_link_is_signed(store: Store, fake: FakeShopify, ours: str) -> None:
    domain = new_domain(fake, orders=3)
    with httpx.Client(timeout=30) as browser:
        landing = browser.get(code_grant(browser, fake, ours, domain))
    link = re.search(r'fetch\("([^"]+)"\)', landing.text)
    assert link is not None
    with httpx.Client(base_url=ours, timeout=30) as client:
        assert eventually(lambda: _done(client.get(link[1]).json()), timeout=60)
        forged = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 64, link[1])
        assert client.get(forged).status_code == 403
        other = link[1].replace("shop=", "shop=x")
        assert client.get(other).status_code == 403


@pytest.mark.parametrize(("make", "status", "reason"), [
    (lambda d, now: signed_query({"shop": d, "timestamp": now}, "not-the-secret-" * 3), 400,
     "does not match"),
    (lambda d, now: signed_query({"shop": d, "timestamp": str(int(now) - 3600)}), 400,
     "too old"),
    (lambda d, now: signed_query({"shop": "evil.example.com", "timestamp": now}), 400,
     "myshopify.com"),
    (lambda d, now: f"shop={d}&timestamp={now}", 400, "not signed"),
])
def test_bad_install_links_are_refused(store: Store, fake: FakeShopify, ours: str,
                                       make: Any, status: int, reason: str) -> None:
    domain = new_domain(fake)
    with httpx.Client(base_url=ours, timeout=30) as client:
        answer = client.get(f"/shopify/install?{make(domain, str(int(time.time())))}")
    assert answer.status_code == status and reason in answer.json()["detail"]
    assert "set-cookie" not in answer.headers and registered(store, domain) is None


@pytest.mark.parametrize(("token", "reason"), [
    ("expired", "expired"), ("foreign", "signed with this app"), ("other-shop", "another shop"),
])
def test_bad_session_tokens_install_nothing(store: Store, fake: FakeShopify, ours: str,
                                            token: str, reason: str) -> None:
    domain = new_domain(fake)
    session = {"expired": fake.session_token(domain, lifetime=-60),
               "foreign": FakeShopify(CLIENT_ID, "x" * 40).session_token(domain),
               "other-shop": fake.session_token("other.myshopify.com")}[token]
    query = signed_query({"embedded": "1", "id_token": session, "shop": domain,
                          "timestamp": str(int(time.time()))})
    with httpx.Client(base_url=ours, timeout=30) as client:
        answer = client.get(f"/shopify/app?{query}")
    assert answer.status_code in {400, 401} and reason in answer.json()["detail"]
    assert session not in answer.text and SECRET not in answer.text
    assert registered(store, domain) is None and not fake.shop(domain).tokens


def test_the_embedded_admin_calls_with_session_tokens(store: Store, fake: FakeShopify,
                                                     ours: str) -> None:
    domain = new_domain(fake, orders=2)
    with httpx.Client(timeout=30) as admin:
        assert admin.get(fake.app_home_url(ours, domain)).status_code == 200
    shop = registered(store, domain)
    assert shop is not None
    with httpx.Client(base_url=ours, timeout=30) as client:
        def status(token: str) -> httpx.Response:
            return client.get("/shopify/api/status", headers={"Authorization": f"Bearer {token}"})

        mine = status(fake.session_token(domain))
        assert mine.status_code == 200, mine.text
        assert (mine.json()["shop_id"], mine.json()["widget_key"]) == (shop.shop_id,
                                                                       shop.widget_key)
        assert status(fake.session_token(domain, lifetime=-60)).status_code == 401
        assert status(FakeShopify(CLIENT_ID, "y" * 40).session_token(domain)).status_code == 401
        assert status(fake.session_token("never-installed.myshopify.com")).status_code == 403
        assert client.get("/shopify/api/status").status_code == 401


def test_without_a_shopify_app_the_pages_say_so(store: Store) -> None:
    with LiveServer(settings_for(store)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        answer = client.get("/shopify/install?shop=a.myshopify.com")
    assert answer.status_code == 404 and "SHOPRECO_SHOPIFY_CLIENT_ID" in answer.text


def test_on_the_real_shopify_the_page_links_to_turning_the_embed_on() -> None:
    from plugin.config import Settings
    from plugin.shopify.routes import _page

    real = Settings(shopify_client_id="cid", shopify_client_secret=Secret(SECRET))
    page = _page(real, "my-shop", "my-shop.myshopify.com", None, new=True).body.decode()
    assert ('href="https://my-shop.myshopify.com/admin/themes/current/editor?context=apps'
            '&amp;activateAppId=cid/embed"') in page
    fake_base = _page(replace(real, shopify_base_url="http://127.0.0.1:1/{shop}"), "my-shop",
                      "my-shop.myshopify.com", None, new=True).body.decode()
    assert "activateAppId" not in fake_base and "App embeds" in fake_base


def test_the_install_link_sends_the_owner_to_approve_with_a_state_cookie(
        store: Store, fake: FakeShopify, ours: str) -> None:
    domain = new_domain(fake)
    with httpx.Client(timeout=30) as browser:
        started = browser.get(fake.install_url(ours, domain))
    assert started.status_code == 302
    target = urlsplit(started.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        f"{fake.base_url}/{domain}/admin/oauth/authorize")
    asked = dict(parse_qsl(target.query))
    assert (asked["client_id"], asked["redirect_uri"]) == (CLIENT_ID, f"{ours}/shopify/callback")
    assert asked["scope"] == "read_orders,read_products,read_customers"
    cookie = started.headers["set-cookie"]
    assert cookie.startswith(f"{installing.STATE_COOKIE}={asked['state']}.{domain}.")
    assert "HttpOnly" in cookie and "Path=/shopify" in cookie and "SameSite=lax" in cookie
    assert f"Max-Age={installing.STATE_SECONDS}" in cookie and "Secure" not in cookie
    assert registered(store, domain) is None  # nothing is stored before the callback


def test_a_callback_without_a_code_is_refused(store: Store, fake: FakeShopify,
                                              ours: str) -> None:
    domain = new_domain(fake)
    with httpx.Client(timeout=30) as browser:
        query = dict(parse_qsl(urlsplit(code_grant(browser, fake, ours, domain)).query))
        query.pop("hmac")
        query.pop("code")
        answer = browser.get(f"{ours}/shopify/callback?{signed_query(query)}")
    assert answer.status_code == 400 and "no code" in answer.json()["detail"]
    assert registered(store, domain) is None


def test_an_expired_or_unreadable_progress_link_is_refused(ours: str) -> None:
    settings = Settings(shopify_client_secret=Secret(SECRET))
    now = int(time.time())

    def progress(shop_id: str, exp: int | str) -> httpx.Response:
        sig = progress_signature(settings, shop_id, int(exp) if str(exp).isdigit() else 0)
        return httpx.get(f"{ours}/shopify/progress",
                         params={"shop": shop_id, "exp": str(exp), "sig": sig}, timeout=30)

    fresh = progress("t-not-installed", now + 60)
    assert fresh.status_code == 200 and fresh.json() == {"shop_id": "t-not-installed"}
    expired = progress("t-not-installed", now - 1)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    unreadable = progress("t-not-installed", "soon")
    assert unreadable.status_code == 400 and "Unix seconds" in unreadable.json()["detail"]
