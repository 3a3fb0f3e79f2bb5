"""The contract every platform's connect test case follows, so one shared suite
(test_connectors.py) runs against WooCommerce, BigCommerce and Ecwid alike.

A case owns a local fake of its platform (a Starlette app served by AppServer, in
plugin.demo.fake_<platform>) that follows the platform's documented contract, and plays the
store owner's browser and the platform's side of each step. Each
tests/plugin/connect/<platform>_case.py module names its class `Case` (for example
`class Case:` or `Case = WooCommerceCase`), built with no arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Webhook:
    """A webhook the platform sends us: where, what, how signed."""

    path: str  # e.g. /webhooks/woocommerce/<shop_id>
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ConnectCase(Protocol):
    """Used as `with Case() as case:` — entering starts the fake platform (AppServer from
    tests.plugin.shopify.conftest), leaving stops it."""

    platform: str  # "woocommerce", "bigcommerce", "ecwid"

    def __enter__(self) -> ConnectCase: ...

    def __exit__(self, *exc: object) -> None: ...

    def settings(self) -> dict[str, Any]:
        """plugin.config.Settings fields that point our server at the fake platform (client
        id and secret, login / OAuth / API URLs). Applied with dataclasses.replace."""
        ...

    def new_store(self, orders: int) -> str:
        """A new store on the fake holding `orders` historical orders (and a few products);
        its domain or store id as our shop registry will know it."""
        ...

    def connect(self, client: httpx.Client, ours: str, store: str) -> httpx.Response:
        """The owner's steps from /connect (our page) through the platform's approval back to
        our landing page; the landing page's response (the client follows no redirects by
        itself: the case follows each one, as a browser would)."""
        ...

    def replay(self, client: httpx.Client, ours: str) -> httpx.Response:
        """The platform's last call to our callback, sent again exactly (must be refused 4xx
        and change nothing)."""
        ...

    def hooks(self, store: str) -> list[dict[str, Any]]:
        """The webhooks the fake holds for `store`, each with at least `topic` and `url`."""
        ...

    def scripts(self, store: str) -> list[dict[str, Any]]:
        """Storefront scripts the fake holds for `store` (BigCommerce); [] elsewhere."""
        ...

    def new_order(self, store: str, ours: str) -> Webhook:
        """Add an order to the store on the fake and the webhook the platform would send us
        for it, signed the way the connect set it up."""
        ...

    def uninstall(self, client: httpx.Client, ours: str, store: str) -> None:
        """The owner removes shopreco: the platform's uninstall (BigCommerce's callback), or
        our dashboard's Disconnect where the platform has no uninstall call."""
        ...

    def issued_secrets(self) -> list[str]:
        """Every token, key and secret the fake issued: none may appear in our answers or
        logs."""
        ...
