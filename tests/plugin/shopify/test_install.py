"""Installing on Shopify against a local fake Shopify that follows the documented contracts:
the authorization code grant, the token exchange, the shop registered by itself, the app's
metafields, the backfill with progress (through 429s), uninstall, and every bad input."""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
import uvicorn

from plugin.config import Secret
from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify import install as installing
from plugin.shopify.auth import query_hmac
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import Shop, shop_by_domain
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import body_of, eventually, order_payload, shopify_headers
from webhooks.http import PlatformHttp

CLIENT_ID, SECRET = "5f0e8c1d2b3a49685f0e8c1d2b3a4968", "shpss_" + "9a8b7c6d5e4f3a2b" * 2


FAKE_THREAD = "fake-shopify"


class AppServer:
    """Any ASGI app under uvicorn in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=FAKE_THREAD)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeShopify]:
    shopify = FakeShopify(CLIENT_ID, SECRET, throttle_every=7)
    with AppServer(shopify.app) as url:
        shopify.base_url = url
        yield shopify


@pytest.fixture(scope="module")
def ours(store: Store, fake: FakeShopify) -> Iterator[str]:
    port = free_port()
    settings = settings_for(store, shopify_client_id=CLIENT_ID,
                            shopify_client_secret=Secret(SECRET),
                            shopify_base_url=fake.base_url + "/{shop}",
                            public_url=f"http://127.0.0.1:{port}")
    with LiveServer(settings, port=port) as url:
        yield url


def new_domain(fake: FakeShopify, orders: int = 0) -> str:
    domain = f"s{time.monotonic_ns() % 10**9}.myshopify.com"
    shop = fake.shop(domain)
    shop.orders = [order_payload(90_000 + n, 500 + n % 7, [1 + n % 5, 6 + n % 3])
                   for n in range(orders)]
    shop.products = [{"id": p, "title": f"Product {p}", "status": "active", "variants": [
        {"id": p * 10, "price": "9.50", "inventory_quantity": 3}]} for p in range(1, 9)]
    return domain


def registered(store: Store, domain: str) -> Shop | None:
    return store.run(lambda r: shop_by_domain(r, "shopify", domain))


def progress_of(store: Store, shop_id: str) -> dict[str, str]:
    return store.run(lambda r: installing.progress(r, shop_id))


def code_grant(client: httpx.Client, fake: FakeShopify, ours: str, domain: str) -> str:
    """The owner's browser: the signed install link, Shopify's consent page, back to us;
    the callback URL it followed."""
    started = client.get(fake.install_url(ours, domain))
    assert started.status_code == 302, started.text
    consent = client.get(started.headers["location"])
    assert consent.status_code == 200
    href = re.search(r'id="approve" href="([^"]+)"', consent.text)
    assert href is not None
    return html.unescape(href[1])


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


def _done(found: dict[str, str]) -> dict[str, str]:
    assert found.get("stage") == "done", found
    return found


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
        reopened = admin.get(fake.app_home_url(ours, domain))  # connected: no new token
        assert reopened.status_code == 200 and "is connected" in reopened.text
    assert len(fake.shop(domain).tokens) == 1
    eventually(lambda: _done(progress_of(store, shop.shop_id)), timeout=60)


def signed_query(params: dict[str, str], secret: str = SECRET) -> str:
    pairs = list(params.items())
    return urlencode([*pairs, ("hmac", query_hmac(pairs, secret))])


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
    store.run(lambda r: installing.backfill(r, http, shop.shop_id))
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
