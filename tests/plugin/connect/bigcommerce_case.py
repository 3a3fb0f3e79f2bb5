"""BigCommerce's connect case (the contract in cases.py): the fake BigCommerce (login service
and store API) holding our app, the owner's browser from our Connect page through the install
link and BigCommerce's consent page, BigCommerce's webhooks and its uninstall callback.

The app's profile (its callback URLs) belongs to the app, not to a store: `connect` sets it on
the fake as the Developer Portal would, pointing at our server.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.config import Secret
from plugin.connect import bigcommerce
from plugin.demo.fake_bigcommerce import FakeBigCommerce
from tests.plugin.connect.cases import Webhook
from tests.plugin.shopify.conftest import AppServer

CLIENT_ID = "bc4hx0w2pdqk7c1ns8uyl3j6mze9ft5"
SECRET = "bc_client_secret_" + "7a1b2c3d4e5f6a7b" * 3


class Case:
    platform = "bigcommerce"

    def __init__(self) -> None:
        self.fake = FakeBigCommerce(CLIENT_ID, SECRET)
        self.server = AppServer(self.fake.app)
        self.last_callback = ""

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def __enter__(self) -> Case:
        self.fake.base_url = self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def settings(self) -> dict[str, Any]:
        return {"bigcommerce_client_id": CLIENT_ID,
                "bigcommerce_client_secret": Secret(SECRET),
                "bigcommerce_login_url": self.base_url, "bigcommerce_api_url": self.base_url}

    def register(self, ours: str) -> None:
        """The app's profile in the Developer Portal: our callback URLs."""
        self.fake.callbacks = {name: ours + path for name, path in bigcommerce.PATHS.items()}

    def new_store(self, orders: int) -> str:
        return self.fake.add_store(orders)

    def approve(self, client: httpx.Client, ours: str, store: str) -> str:
        """From our Connect page through the install link and BigCommerce's consent page:
        the auth callback URL BigCommerce sends the owner to."""
        self.register(ours)
        page = client.get(ours + "/connect")
        link = re.search(r'id="bigcommerce-install" class="button" href="([^"]+)"', page.text)
        assert page.status_code == 200 and link is not None, page.text
        consent = client.get(html.unescape(link[1]), params={"store": store})
        approve = re.search(r'id="approve" href="([^"]+)"', consent.text)
        assert consent.status_code == 200 and approve is not None, consent.text
        self.last_callback = html.unescape(approve[1])
        return self.last_callback

    def connect(self, client: httpx.Client, ours: str, store: str) -> httpx.Response:
        return client.get(self.approve(client, ours, store))

    def replay(self, client: httpx.Client, ours: str) -> httpx.Response:
        return client.get(self.last_callback)

    def hooks(self, store: str) -> list[dict[str, Any]]:
        return [{**hook, "topic": hook["scope"], "url": hook["destination"]}
                for hook in self.fake.stores[store].hooks.values()]

    def scripts(self, store: str) -> list[dict[str, Any]]:
        return list(self.fake.stores[store].scripts.values())

    def new_order(self, store: str, ours: str) -> Webhook:
        order_id = self.fake.add_order(store)
        sent = self.fake.delivery(store, "store/order/created", order_id)
        assert sent is not None, "no active store/order/created webhook"
        return Webhook(urlsplit(sent.url).path, sent.body, sent.headers)

    def uninstall(self, client: httpx.Client, ours: str, store: str) -> None:
        done = client.get(self.fake.uninstall(store))
        assert done.status_code == 200, done.text

    def issued_secrets(self) -> list[str]:
        return [SECRET, *self.fake.issued]
