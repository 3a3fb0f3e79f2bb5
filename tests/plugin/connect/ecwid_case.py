"""Ecwid's connect case (the contract in cases.py): the fake Ecwid app and its stores, the
owner's browser through Ecwid's consent dialog, and Ecwid's webhooks.

The app's registration (redirect URL, webhook URL, storefront JavaScript) belongs to the app,
not to a store: `connect` sets it on the fake as Ecwid's team would, pointing at our server.
Ecwid has no uninstall callback to replay here, so `uninstall` is the dashboard's Disconnect.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.config import Secret
from plugin.connect import ecwid
from plugin.demo.fake_ecwid import FakeEcwid
from tests.plugin.connect.cases import Webhook
from tests.plugin.shopify.conftest import AppServer

CLIENT_ID, SECRET = "shopreco-test-app", "ecwid_client_secret_" + "5b6c7d8e9f0a1b2c" * 2


class Case:
    platform = "ecwid"

    def __init__(self) -> None:
        self.fake = FakeEcwid(CLIENT_ID, SECRET)
        self.server = AppServer(self.fake.app)
        self.last_callback = ""
        self.dashboard: dict[str, str] = {}  # store: the latest landing page's sign-in link

    def __enter__(self) -> Case:
        self.fake.base_url = self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def settings(self) -> dict[str, Any]:
        return {"ecwid_client_id": CLIENT_ID, "ecwid_client_secret": Secret(SECRET),
                "ecwid_oauth_url": self.fake.base_url,
                "ecwid_api_url": self.fake.base_url + "/api/v3"}

    def new_store(self, orders: int) -> str:
        return str(self.fake.add_store(orders).store_id)

    def decide(self, client: httpx.Client, ours: str, store: str,
               decision: str = "accept") -> str:
        """From our Connect page through Ecwid's dialog: the callback URL Ecwid sends the
        owner to."""
        self.fake.register(ours)
        page = client.get(ours + "/connect")
        assert f"href='{ecwid.START_PATH}'" in page.text, page.text
        started = client.get(ours + ecwid.START_PATH)
        assert started.status_code == 302, started.text
        dialog = client.get(started.headers["location"])
        found = re.search(r'name="dialog" value="([^"]+)"', dialog.text)
        assert dialog.status_code == 200 and found is not None, dialog.text
        decided = client.post(self.fake.base_url + "/api/oauth/decide",
                              data={"dialog": found[1], "store_id": store,
                                    "decision": decision})
        assert decided.status_code == 302, decided.text
        self.last_callback = decided.headers["location"]
        return self.last_callback

    def connect(self, client: httpx.Client, ours: str, store: str) -> httpx.Response:
        landing = client.get(self.decide(client, ours, store))
        link = re.search(r"id='dashboard'[^>]*href='([^']+)'", landing.text)
        if link is not None:
            self.dashboard[store] = html.unescape(link[1])
        return landing

    def replay(self, client: httpx.Client, ours: str) -> httpx.Response:
        return client.get(self.last_callback)

    def hooks(self, store: str) -> list[dict[str, Any]]:
        return list(self.fake.hooks(int(store)))

    def scripts(self, store: str) -> list[dict[str, Any]]:
        return []  # the storefront JavaScript belongs to the app's registration

    def new_order(self, store: str, ours: str) -> Webhook:
        signed = self.fake.order_webhook(int(store))
        where = urlsplit(signed.url)
        return Webhook(f"{where.path}?{where.query}", signed.body, signed.headers)

    def uninstall(self, client: httpx.Client, ours: str, store: str) -> None:
        csrf = sign_in(client, ours, self.dashboard[store])
        done = client.post(ours + "/admin/connection/disconnect", data={"csrf": csrf})
        assert done.status_code == 303, done.text

    def issued_secrets(self) -> list[str]:
        return [SECRET, *self.fake.issued]


def sign_in(client: httpx.Client, ours: str, link: str) -> str:
    """Follow a landing page's one-time dashboard link; the session's CSRF token."""
    signed = client.post(ours + "/admin/login", data={"token": link.rpartition("=")[2]})
    assert signed.status_code == 303, signed.text
    page = client.get(ours + "/admin/connection")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None, page.text
    return csrf[1]
