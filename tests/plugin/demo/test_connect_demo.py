"""The demo's "Connect a shop" (plugin.demo.connect_demo): the three fakes mounted on the
demo server, clicked through as a newcomer would, from /demo/connect to each landing page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from plugin.config import Secret
from plugin.connect import ecwid, woocommerce
from plugin.demo import connect_demo
from plugin.store import keys
from plugin.store.shops import shop_by_domain
from tests.conftest import LiveServer, Store, free_port
from tests.helpers import eventually


@pytest.fixture(scope="module")
def demo(store: Store) -> Iterator[str]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    settings = connect_demo.with_fake_platforms(replace(store.settings, public_url=public_url),
                                                public_url)
    routes = connect_demo.demo_connect_routes(settings, public_url)
    with LiveServer(settings, extra_routes=routes, port=port) as url:
        yield url


def test_the_fakes_are_the_apps_only_when_none_is_configured(store: Store) -> None:
    faked = connect_demo.with_fake_platforms(store.settings, "http://127.0.0.1:8000")
    assert faked.bigcommerce_client_id == connect_demo.BC_CLIENT_ID
    assert faked.ecwid_api_url == "http://127.0.0.1:8000/fake-ecwid/api/v3"
    real = replace(store.settings, bigcommerce_client_id="real-app",
                   bigcommerce_client_secret=Secret("s"), ecwid_client_id="real-ecwid",
                   ecwid_client_secret=Secret("e"))
    kept = connect_demo.with_fake_platforms(real, "http://127.0.0.1:8000")
    assert (kept.bigcommerce_login_url, kept.ecwid_oauth_url) == (
        real.bigcommerce_login_url, real.ecwid_oauth_url)
    routes = connect_demo.demo_connect_routes(kept, "http://127.0.0.1:8000")
    assert {getattr(r, "path", "") for r in routes} == {
        connect_demo.PAGE, connect_demo.WOO_MOUNT}  # no fake beside a real app


def _page(client: httpx.Client, demo: str) -> str:
    page = client.get(demo + connect_demo.PAGE)
    assert page.status_code == 200
    return page.text


def _imported(store: Store, platform: str, domain: str) -> None:
    shop = store.run(lambda r: shop_by_domain(r, platform, domain))
    assert shop is not None
    found = store.run(lambda r: r.hget(keys.connection(shop.shop_id), "stage"))
    assert found == b"done", found


def test_a_newcomer_connects_the_demo_woocommerce_store(store: Store, demo: str) -> None:
    with httpx.Client(timeout=30) as browser:
        address = re.search(r"id='demo-woocommerce'>([^<]+)<", _page(browser, demo))
        assert address is not None
        started = browser.post(demo + woocommerce.BASE, data={"store": html.unescape(address[1])})
        assert started.status_code == 303, started.text
        consent = browser.get(started.headers["location"])
        approve = re.search(r'id="approve" href="([^"]+)"', consent.text)
        assert approve is not None, consent.text
        back = browser.get(html.unescape(approve[1]))
        assert back.status_code == 302, back.text
        landing = browser.get(back.headers["location"])
        assert landing.status_code == 200 and "id='api-key'" in landing.text, landing.text
    domain = html.unescape(address[1]).split("://", 1)[1]
    eventually(lambda: _imported(store, "woocommerce", domain), timeout=60)


def test_a_newcomer_installs_the_demo_bigcommerce_app(store: Store, demo: str) -> None:
    with httpx.Client(timeout=30) as browser:
        link = re.search(r"id='demo-bigcommerce' href='([^']+)'", _page(browser, demo))
        assert link is not None
        consent = browser.get(html.unescape(link[1]))
        approve = re.search(r'id="approve" href="([^"]+)"', consent.text)
        assert consent.status_code == 200 and approve is not None, consent.text
        landing = browser.get(html.unescape(approve[1]))
        assert landing.status_code == 200 and "id='api-key'" in landing.text, landing.text
    store_hash = html.unescape(link[1]).rsplit("store=", 1)[1]
    eventually(lambda: _imported(store, "bigcommerce", store_hash), timeout=60)


def test_a_newcomer_connects_the_demo_ecwid_store(store: Store, demo: str) -> None:
    with httpx.Client(timeout=30) as browser:
        store_id = re.search(r"id='demo-ecwid'>(\d+)<", _page(browser, demo))
        assert store_id is not None
        started = browser.get(demo + ecwid.START_PATH)
        assert started.status_code == 302, started.text
        dialog = browser.get(started.headers["location"])
        found = re.search(r'name="dialog" value="([^"]+)"', dialog.text)
        assert dialog.status_code == 200 and found is not None, dialog.text
        decided = browser.post(demo + connect_demo.ECWID_MOUNT + "/api/oauth/decide",
                               data={"dialog": found[1], "store_id": store_id[1],
                                     "decision": "accept"})
        assert decided.status_code == 302, decided.text
        landing = browser.get(decided.headers["location"])
        assert landing.status_code == 200 and "id='api-key'" in landing.text, landing.text
    eventually(lambda: _imported(store, "ecwid", store_id[1]), timeout=60)
