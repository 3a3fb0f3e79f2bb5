"""The admin's routes (plugin/admin/routes.py) over real HTTP: sign-in by the one-time link,
the session cookie, sign-out, and one shop per session."""

from __future__ import annotations

import re

import httpx
import pytest

from plugin.admin import routes, sessions
from plugin.store.shops import NewShop
from tests.conftest import LiveServer, Store, settings_for
from tests.plugin.admin.conftest import fill, link_for

# everything else is the signed-in owner's; these start a session (each tested beside its
# module: test_passwords.py, test_shopify.py)
OPEN = {"/admin/signin", "/admin/login", "/admin/password", "/admin/shopify"}


def test_a_login_link_works_once_and_not_when_made_up(store: Store, shop: NewShop,
                                                      base_url: str) -> None:
    link = link_for(store, shop, base_url)
    token = link.rpartition("=")[2]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        assert client.post("/admin/login", data={"token": token}).status_code == 303
    with httpx.Client(base_url=base_url, timeout=30) as other:
        again = other.post("/admin/login", data={"token": token})
        assert again.status_code == 400 and "not valid" in again.text
        assert other.get("/admin/login?token=made-up").status_code == 400
        assert other.get("/admin/").status_code == 303  # no session


def test_a_session_shows_only_its_own_shop(store: Store, make_shop, base_url: str) -> None:
    mine, theirs = make_shop(), make_shop()
    fill(store, mine, 3)
    fill(store, theirs, 30, first_order=1000)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get(link_for(store, mine, base_url))
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        client.post("/admin/login", data={"token": token[1]})
        overview = client.get("/admin/", params={"shop": theirs.shop.shop_id}).text
    assert mine.shop.domain in overview and theirs.shop.domain not in overview
    orders = re.search(r'data-figure="Orders">([^<]+)<', overview)
    assert orders is not None and orders[1] == "3"


def test_opening_the_link_asks_first_and_does_not_spend_it(store: Store, shop: NewShop,
                                                           base_url: str) -> None:
    link = link_for(store, shop, base_url)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(2):  # a mail scanner's fetch, then the owner's
            page = client.get(link)
            assert page.status_code == 200 and shop.shop.shop_id in page.text
            assert 'id="continue"' in page.text and "set-cookie" not in page.headers
        signed = client.post("/admin/login", data={"token": link.rpartition("=")[2]})
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
        assert client.get("/admin/").status_code == 200


def test_a_link_to_a_shop_that_is_not_here_signs_nobody_in(store: Store, base_url: str) -> None:
    token = store.run(lambda r: sessions.login_link(r, base_url, "t-never-registered"))
    with httpx.Client(base_url=base_url, timeout=30) as client:
        refused = client.post("/admin/login", data={"token": token.rpartition("=")[2]})
        assert refused.status_code == 400 and "set-cookie" not in refused.headers
        assert client.post("/admin/login", data={}).status_code == 400  # no token at all


def test_sign_out_ends_the_session_on_the_server(signed_in, base_url: str) -> None:
    client, _ = signed_in
    cookie = client.cookies[sessions.COOKIE]
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text)
    assert csrf is not None
    out = client.post("/admin/logout", data={"csrf": csrf[1]})
    assert out.status_code == 303 and sessions.COOKIE not in client.cookies
    assert "Max-Age=0" in out.headers["set-cookie"] and "Path=/admin" in out.headers["set-cookie"]
    with httpx.Client(base_url=base_url, timeout=30,
                      cookies={sessions.COOKIE: cookie}) as replayed:  # a copied cookie
        assert replayed.get("/admin/").status_code == 303


def test_the_sign_in_page_says_how_and_when_a_session_ended(http: httpx.Client) -> None:
    plain = http.get("/admin/signin")
    assert plain.status_code == 200 and "shopreco admin login-link" in plain.text
    assert "session has ended" not in plain.text
    assert "session has ended" in http.get("/admin/signin", params={"expired": "1"}).text


@pytest.mark.parametrize("route", [r for r in routes.routes if r.path not in OPEN],
                         ids=lambda r: r.path)
def test_every_other_page_needs_a_session(http: httpx.Client, route) -> None:
    method = "POST" if "POST" in (route.methods or ()) else "GET"
    answer = http.request(method, route.path)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/signin?expired=1"


def test_the_cookie_is_secure_behind_https(store: Store, shop: NewShop) -> None:
    settings = settings_for(store, public_url="https://reco.example", run_worker=False)
    with LiveServer(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        token = link_for(store, shop, url).rpartition("=")[2]
        signed = client.post("/admin/login", data={"token": token})
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert f"Max-Age={sessions.SESSION_HOURS * 3600}" in cookie
