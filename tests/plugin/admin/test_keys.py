"""The admin's API keys page (plugin/admin/keys.py) in Chromium: the owner creates a key with
scopes and sees its secret once, the key calls what its scopes allow, rotation shows a new
secret while the old one works for the overlap, revocation stops it; forms need the CSRF
token; a bad form is refused with the reason and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx

from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, SCREENSHOTS, browser  # noqa: F401
from tests.conftest import Store
from tests.plugin.admin.conftest import link_for


def api(http: httpx.Client, shop: NewShop, secret: str, path: str) -> int:
    return http.get(f"/api/v1/shops/{shop.shop.shop_id}{path}",
                    headers={"Authorization": f"Bearer {secret}"}).status_code


def test_the_owner_creates_rotates_and_revokes_a_key_in_chromium(
        store: Store, shop: NewShop, base_url: str, http: httpx.Client,
        browser: Any) -> None:  # noqa: F811
    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []  # (PageWatch would dismiss the revoke's confirmation)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(link_for(store, shop, base_url))
        page.click("#continue")
        page.wait_for_selector("h1:text('Overview')")
        page.click("text=API keys")
        page.wait_for_selector("h1:text('API keys')")
        assert page.locator("#keys tbody tr").count() == 1  # the default key
        page.fill("#key-name", "storefront")
        page.check("input[value='recommendations:read']")
        page.click("#create-key button[type=submit]")
        page.wait_for_selector("#new-secret")
        secret = page.inner_text("#secret").strip()
        assert re.fullmatch(r"sk_[\w-]{43}", secret)
        assert api(http, shop, secret, "/recommendations/trending") == 200
        assert api(http, shop, secret, "/lifecycle/stages") == 403
        row = page.locator("#keys tbody tr", has_text="storefront")
        assert "recommendations:read" in row.inner_text() and secret not in row.inner_text()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "admin-keys-390.png"), full_page=True)

        row.locator("select").select_option("3600")
        row.locator("button:text('Rotate')").click()
        page.wait_for_selector("#new-secret")
        rotated = page.inner_text("#secret").strip()
        assert rotated != secret
        assert api(http, shop, rotated, "/recommendations/trending") == 200
        assert api(http, shop, secret, "/recommendations/trending") == 200  # the overlap
        ending = page.locator("#keys tbody tr", has_text="storefront").filter(
            has_not_text="when revoked")
        assert ending.count() == 1  # the old secret, with its end

        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        ending.locator("button:text('Revoke')").click()
        page.wait_for_selector("text=no longer works")
        assert api(http, shop, secret, "/recommendations/trending") == 401
        assert api(http, shop, rotated, "/recommendations/trending") == 200
        assert asked and "storefront" in asked[0]
        assert errors == []
    finally:
        context.close()


def test_refused_forms_say_why_and_change_nothing(signed_in) -> None:
    client, _ = signed_in
    page = client.get("/admin/keys")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None
    no_scope = client.post("/admin/keys", data={"csrf": csrf[1], "name": "x"})
    assert no_scope.status_code == 400 and "at least one scope" in no_scope.text
    unknown = client.post("/admin/keys/revoke", data={"csrf": csrf[1], "key_id": "key_nope"})
    assert unknown.status_code == 400 and "has no API key" in unknown.text
    forged = client.post("/admin/keys", data={"name": "x", "scope": "admin"})
    assert forged.status_code == 403
    listed = client.get("/admin/keys").text
    assert listed.count('data-key-id="') == 1
