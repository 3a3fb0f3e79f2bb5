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


def _luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of #rgb or #rrggbb."""
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_dashboards_text_colours_have_sufficient_contrast() -> None:
    """WCAG AA (4.5:1 for text) for every text colour of base.html on the backgrounds it is
    shown on: the page, the white panels, the accent buttons."""
    from pathlib import Path

    import plugin.admin

    css = (Path(plugin.admin.__file__).parent / "templates" / "base.html").read_text()
    colours = dict(re.findall(r"--(\w+):\s*(#[0-9a-fA-F]{3,6})", css))
    up, down = re.search(r"\.up \{ color: (#\w+)", css), re.search(r"\.down \{ color: (#\w+)", css)
    assert up is not None and down is not None
    pairs = [(colours["ink"], colours["bg"]), (colours["ink"], "#fff"),
             (colours["muted"], "#fff"), (colours["muted"], colours["bg"]),
             (colours["accent"], "#fff"), (colours["accent"], colours["bg"]),
             ("#fff", colours["accent"]), (up[1], "#fff"), (down[1], "#fff")]
    low = [(a, b, round(_contrast(a, b), 2)) for a, b in pairs if _contrast(a, b) < 4.5]
    assert low == []
