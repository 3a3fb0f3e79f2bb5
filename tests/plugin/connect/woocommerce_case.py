"""WooCommerce's connect case (the contract in cases.py): stores on the fake WooCommerce, the
owner's browser from our Connect page through the store's consent page and back, and the
store's signed webhooks.

WooCommerce needs no app registration, so `settings` is empty. The fake takes an http
callback_url (real WooCommerce wants https) because our test server is plain http on loopback.
WooCommerce has no uninstall call, so `uninstall` is the dashboard's Disconnect.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.connect import woocommerce
from plugin.connect.woocommerce_store import store_domain
from plugin.demo.fake_woocommerce import FakeWooCommerce
from tests.plugin.connect.cases import Webhook
from tests.plugin.shopify.conftest import AppServer


class Case:
    platform = "woocommerce"

    def __init__(self) -> None:
        self.fake = FakeWooCommerce(https_callbacks_only=False)
        self.server = AppServer(self.fake.app)
        self.names: dict[str, str] = {}  # our registry's domain -> the fake's store name
        self.dashboard: dict[str, str] = {}  # domain -> the latest landing page's sign-in link

    def __enter__(self) -> Case:
        self.fake.base_url = self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def settings(self) -> dict[str, Any]:
        return {}

    def new_store(self, orders: int) -> str:
        name = self.fake.new_store(orders).name
        domain = store_domain(self.fake.store_url(name))
        self.names[domain] = name
        return domain

    def consent(self, client: httpx.Client, ours: str, store: str) -> str:
        """From our Connect page to the store's consent page; that page's HTML."""
        page = client.get(ours + "/connect")
        assert f"action='{woocommerce.BASE}'" in page.text, page.text
        started = client.post(ours + woocommerce.BASE,
                              data={"store": self.fake.store_url(self.names[store])})
        assert started.status_code == 303, started.text
        consent = client.get(started.headers["location"])
        assert consent.status_code == 200, consent.text
        return consent.text

    def connect(self, client: httpx.Client, ours: str, store: str) -> httpx.Response:
        approve = re.search(r'id="approve" href="([^"]+)"', self.consent(client, ours, store))
        assert approve is not None
        back = client.get(html.unescape(approve[1]))  # the store POSTs the keys, then sends
        assert back.status_code == 302, back.text  # the owner to our return_url
        landing = client.get(back.headers["location"])
        link = re.search(r"id='dashboard'[^>]*href='([^']+)'", landing.text)
        if link is not None:
            self.dashboard[store] = html.unescape(link[1])
        return landing

    def replay(self, client: httpx.Client, ours: str) -> httpx.Response:
        url, body = self.fake.callbacks[-1]
        return client.post(url, content=body,
                           headers={"Content-Type": "application/json;charset=UTF-8"})

    def hooks(self, store: str) -> list[dict[str, Any]]:
        return [{**hook, "url": hook["delivery_url"]} for hook in
                list(self.fake.stores[self.names[store]].webhooks.values())]

    def scripts(self, store: str) -> list[dict[str, Any]]:
        return []  # the storefront widgets come with the WordPress plugin

    def new_order(self, store: str, ours: str) -> Webhook:
        _, deliveries = self.fake.new_order(self.names[store])
        signed = next(d for d in deliveries if d.url.startswith(ours))
        return Webhook(urlsplit(signed.url).path, signed.body, signed.headers)

    def uninstall(self, client: httpx.Client, ours: str, store: str) -> None:
        csrf = sign_in(client, ours, self.dashboard[store])
        done = client.post(ours + "/admin/connection/disconnect", data={"csrf": csrf})
        assert done.status_code == 303, done.text

    def issued_secrets(self) -> list[str]:
        return list(self.fake.issued)


def sign_in(client: httpx.Client, ours: str, link: str) -> str:
    """Follow a landing page's one-time dashboard link; the session's CSRF token."""
    signed = client.post(ours + "/admin/login", data={"token": link.rpartition("=")[2]})
    assert signed.status_code == 303, signed.text
    page = client.get(ours + "/admin/connection")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None, page.text
    return csrf[1]
