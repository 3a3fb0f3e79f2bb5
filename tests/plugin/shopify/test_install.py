"""Installing on Shopify (plugin/shopify/install.py) against a local fake Shopify that follows
the documented contracts: the authorization code grant, the token exchange, the shop registered
by itself, the app's metafields, the backfill with progress (through 429s), uninstall, the
install's state, and no secret in the logs. (The pages' own refusals: test_routes.py.)"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify import install as installing
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import Shop
from tests.conftest import Store
from tests.helpers import body_of, eventually, shopify_headers
from tests.plugin.shopify.conftest import (
    FAKE_THREAD,
    SECRET,
    _done,
    code_grant,
    new_domain,
    progress_of,
    registered,
    signed_query,
)
from webhooks import shopify
from webhooks.backfill import import_with_progress
from webhooks.http import PlatformHttp


def test_the_code_grant_installs_the_shop_by_itself(store: Store, fake: FakeShopify,
                                                     ours: str) -> None:
    domain = new_domain(fake, orders=30)
    with httpx.Client(timeout=30) as browser:
        callback = code_grant(browser, fake, ours, domain)
        cookie = browser.cookies.get(installing.STATE_COOKIE)
        landing = browser.get(callback)
        assert landing.status_code == 200, landing.text
        assert "What happens next" in landing.text and "App embeds" in landing.text
        assert landing.headers["content-security-policy"] == (
            f"frame-ancestors https://{domain} https://admin.shopify.com;")
        assert landing.headers["cache-control"] == "no-store"
        api_key = re.search(r"<code id='api-key'>(sk_[^<]+)</code>", landing.text)
        assert api_key is not None
        assert browser.cookies.get(installing.STATE_COOKIE) is None  # the state is spent
    with httpx.Client(timeout=30, cookies={installing.STATE_COOKIE: cookie or ""}) as replay:
        again = replay.get(callback)  # the same code again, even with the state cookie
        assert again.status_code == 400 and "used already" in again.text
    shop = registered(store, domain)
    assert shop is not None and shop.platform == "shopify" and shop.uninstalled_at is None
    assert (shop.currency, shop.storefront_url, shop.origins) == (  # from Shopify's shop query
        "EUR", f"https://{domain}", (f"https://{domain}",))
    token = shop.access.api_token.reveal()
    assert token in fake.shop(domain).tokens
    stored = text(store.run(lambda r: r.hget(keys.shop_config(shop.shop_id), "api_token")))
    assert token not in stored  # sealed at rest
    assert fake.shop(domain).metafields == {"shopreco.widget_key": shop.widget_key,
                                           "shopreco.base_url": ours}
    done = eventually(lambda: _done(progress_of(store, shop.shop_id)), timeout=60)
    assert done["orders"] == "30"
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 30
    assert store.run(lambda r: r.hlen(keys.products(shop.shop_id))) == 8
    with httpx.Client(base_url=ours, timeout=30) as client:  # the key shown once works
        answer = client.get(f"/api/v1/shops/{shop.shop_id}/model",
                            headers={"Authorization": f"Bearer {api_key[1]}"})
        assert answer.status_code == 200


def test_the_token_exchange_installs_from_the_embedded_admin(
        store: Store, fake: FakeShopify, ours: str) -> None:
    domain = new_domain(fake, orders=4)
    fake.shop(domain).currency = "JPY"
    fake.shop(domain).storefront = "https://Shop.Example.com/"
    with httpx.Client(timeout=30) as admin:
        landing = admin.get(fake.app_home_url(ours, domain))
        assert landing.status_code == 200, landing.text
        shop = registered(store, domain)
        assert shop is not None and shop.access.api_token.reveal() in fake.shop(domain).tokens
        assert (shop.currency, shop.origins) == ("JPY", ("https://shop.example.com",))
        reopened = admin.get(fake.app_home_url(ours, domain))  # connected: no new token ...
        assert reopened.status_code == 303  # ... but the dashboard, signed in by the token
        assert reopened.headers["location"].startswith("/admin/shopify?")
        dashboard = admin.get(ours + reopened.headers["location"], follow_redirects=True)
        assert dashboard.status_code == 200 and shop.shop_id in dashboard.text
        assert "frame-ancestors https://" + domain in dashboard.headers["content-security-policy"]
    assert len(fake.shop(domain).tokens) == 1
    eventually(lambda: _done(progress_of(store, shop.shop_id)), timeout=60)


def test_a_callback_without_this_browsers_state_is_refused(
        store: Store, fake: FakeShopify, ours: str) -> None:
    domain = new_domain(fake)
    with httpx.Client(timeout=30) as browser:
        callback = code_grant(browser, fake, ours, domain)
    with httpx.Client(timeout=30) as stranger:  # no cookie: a forged or replayed callback
        answer = stranger.get(callback)
        assert answer.status_code == 400 and "cookie" in answer.json()["detail"]
    with httpx.Client(timeout=30) as browser:  # another install's cookie and state
        code_grant(browser, fake, ours, domain)
        query = dict(parse_qsl(urlsplit(callback).query))
        query.pop("hmac")
        query["state"] = "not-the-state"
        answer = browser.get(f"{ours}/shopify/callback?{signed_query(query)}")
        assert answer.status_code == 400 and "state" in answer.json()["detail"]
    assert registered(store, domain) is None


def test_uninstall_stops_everything_and_a_reinstall_resumes(
        store: Store, fake: FakeShopify, ours: str) -> None:
    domain = new_domain(fake, orders=2)
    with httpx.Client(timeout=30) as admin:
        assert admin.get(fake.app_home_url(ours, domain)).status_code == 200
    shop = registered(store, domain)
    assert shop is not None
    eventually(lambda: _done(progress_of(store, shop.shop_id)), timeout=60)
    body = body_of({"id": 1, "domain": domain})
    with httpx.Client(base_url=ours, timeout=30) as client:
        sent = client.post("/webhooks/shopify", content=body,
                           headers=shopify_headers(domain, SECRET, body, "app/uninstalled"))
        assert sent.status_code == 200
        gone = eventually(lambda: _uninstalled(store, domain), timeout=30)
        assert not gone.access.api_token  # the token is deleted
        widget = eventually(lambda: _empty(client.get("/widgets/v1/recommendations", params={
            "key": shop.widget_key, "placement": "trending"}).json()), timeout=30)
        assert widget["items"] == []
    calls = len(fake.calls)
    http = PlatformHttp()
    store.run(lambda r: import_with_progress(r, http, shop.shop_id, shopify.backfill_pages,
                                             installing.set_progress,
                                             installing.BACKFILL_STAGES))
    store.run(lambda r: http.aclose())
    assert len(fake.calls) == calls  # no Admin API call for an uninstalled shop
    assert store.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == 2  # data kept
    with httpx.Client(timeout=30) as admin:  # installed again: a new token, work resumes
        assert admin.get(fake.app_home_url(ours, domain)).status_code == 200
    back = registered(store, domain)
    assert back is not None and back.uninstalled_at is None and back.access.api_token


def _uninstalled(store: Store, domain: str) -> Shop:
    shop = registered(store, domain)
    assert shop is not None and shop.uninstalled_at is not None
    return shop


def _empty(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["items"] == [], answer
    return answer


def test_no_secret_reaches_the_logs(store: Store, fake: FakeShopify, ours: str,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """A whole install and every refusal, logged at DEBUG: no client secret, access token,
    session token or authorization code in any line our server logs."""
    caplog.set_level(logging.DEBUG)
    domain = new_domain(fake, orders=3)
    with httpx.Client(timeout=30) as browser:
        callback = code_grant(browser, fake, ours, domain)
        code = dict(parse_qsl(urlsplit(callback).query))["code"]
        assert browser.get(callback).status_code == 200
        assert browser.get(callback).status_code == 400
    session = fake.session_token(domain, lifetime=-60)
    with httpx.Client(base_url=ours, timeout=30) as client:
        client.get("/shopify/api/status", headers={"Authorization": f"Bearer {session}"})
    shop = registered(store, domain)
    assert shop is not None
    eventually(lambda: _done(progress_of(store, shop.shop_id)), timeout=60)
    secrets = [SECRET, shop.access.api_token.reveal(), session, code]
    ours_only = [r.getMessage() for r in caplog.records  # not this test's client, not Shopify
                 if r.threadName not in {"MainThread", FAKE_THREAD}]
    assert ours_only and not [s for s in secrets if any(s in line for line in ours_only)]


def test_non_ascii_state_and_signatures_are_refused_not_errors(
        store: Store, fake: FakeShopify, ours: str) -> None:
    domain = new_domain(fake)
    with httpx.Client(timeout=30) as browser:
        callback = code_grant(browser, fake, ours, domain)
        query = dict(parse_qsl(urlsplit(callback).query))
        query.pop("hmac")
        query["state"] = "état-ü"
        answer = browser.get(f"{ours}/shopify/callback?{signed_query(query)}")
        assert answer.status_code == 400 and "state" in answer.json()["detail"]
        progress = browser.get(f"{ours}/shopify/progress",
                               params={"shop": "x", "exp": "9999999999", "sig": "ü" * 64})
        assert progress.status_code == 403
