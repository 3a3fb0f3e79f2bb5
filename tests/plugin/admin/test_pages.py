"""What every admin page shares (plugin/admin/pages.py), over real HTTP: the signed-in owner
check, the CSRF token every POST needs, and the answer headers."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from plugin.admin import sessions
from plugin.store import keys
from tests.conftest import Store

PAGES = ["/admin/", "/admin/recommendations", "/admin/health", "/admin/widgets",
         "/admin/customers"]


def test_forms_need_the_sessions_csrf_token(signed_in) -> None:
    client, _ = signed_in
    assert client.post("/admin/logout").status_code == 403
    assert client.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/admin/").status_code == 200  # still signed in
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text)
    assert csrf is not None
    out = client.post("/admin/logout", data={"csrf": csrf[1]})
    assert out.status_code == 303 and out.headers["location"] == "/admin/signin"
    assert client.get("/admin/").status_code == 303


def test_an_ended_session_goes_back_to_sign_in(store: Store, signed_in) -> None:
    client, _ = signed_in
    for key in store.run(lambda r: r.keys(keys.admin_session("*"))):
        store.run(lambda r, k=key: r.delete(k))
    answer = client.get("/admin/")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/signin?expired=1"
    assert "session has ended" in client.get(answer.headers["location"]).text


def test_another_sessions_csrf_token_is_refused(store: Store, signed_in) -> None:
    client, shop = signed_in
    _, other = store.run(lambda r: sessions.start(r, shop.shop.shop_id))
    refused = client.post("/admin/logout", data={"csrf": other.csrf})
    assert refused.status_code == 403 and "has expired or did not come" in refused.text
    assert client.get("/admin/").status_code == 200  # the POST did nothing


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/admin/"), ("GET", "/admin/health"), ("GET", "/admin/customers.csv"),
    ("POST", "/admin/logout"), ("POST", "/admin/recommendations/retrain"),
])
def test_a_session_of_a_shop_that_is_not_here_goes_to_sign_in(
        store: Store, base_url: str, method: str, path: str) -> None:
    gone = "t-gone-" + uuid.uuid4().hex[:8]  # e.g. a cookie of another installation's shop
    session_id, session = store.run(lambda r: sessions.start(r, gone))
    with httpx.Client(base_url=base_url, timeout=30,
                      cookies={sessions.COOKIE: session_id}) as client:
        answer = client.request(method, path, data={"csrf": session.csrf} if method == "POST"
                                else None)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/signin?expired=1"


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_never_cached_or_framed(signed_in, path: str) -> None:
    client, shop = signed_in
    page = client.get(path)
    assert page.status_code == 200 and shop.shop.domain in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-type"].startswith("text/html")


def test_a_refusal_page_has_the_same_headers(signed_in) -> None:
    client, _ = signed_in
    refused = client.post("/admin/recommendations/excluded", data={"product_ids": "1"})
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-frame-options"] == "DENY"
