"""The demo's "Install on Shopify": a local fake Shopify (plugin.demo.fake_shopify) mounted at
/fake-shopify on the demo server, holding a second store with the demo's products and orders,
so a newcomer can click through a real install: Shopify's consent page, our callback, the
landing page with the import's progress; and then open the app as the Shopify admin does,
which signs in to that shop's dashboard with a session token. Used when no Shopify app is
configured."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from plugin.config import Secret, Settings
from plugin.demo.fake_shopify import FakeShopify
from plugin.demo.store import DemoStore, shopify_product_payload

MOUNT = "/fake-shopify"
INSTALL_PAGE = "/demo/shopify-install"
ADMIN_PAGE = "/demo/shopify-admin"  # the app opened from the (fake) Shopify admin
DOMAIN = "demo-install.myshopify.com"
CLIENT_ID = "demo-shopify-app"
CLIENT_SECRET = "shpss_demo_0123456789abcdef0123456789abcdef"  # only ever the fake's


def with_fake_shopify(settings: Settings, public_url: str) -> Settings:
    """The settings with the fake Shopify's app, unless a real Shopify app is configured."""
    if settings.shopify_client_id:
        return settings
    return replace(settings, shopify_client_id=CLIENT_ID,
                   shopify_client_secret=Secret(CLIENT_SECRET),
                   shopify_base_url=f"{public_url}{MOUNT}/{{shop}}")


def demo_shopify_routes(settings: Settings, store: DemoStore,
                        public_url: str) -> list[BaseRoute]:
    """The fake Shopify and the demo's install link; none when a real app is configured."""
    if settings.shopify_client_id != CLIENT_ID:
        return []
    fake = FakeShopify(CLIENT_ID, CLIENT_SECRET, throttle_every=25)
    fake.base_url = public_url + MOUNT
    shop = fake.shop(DOMAIN)
    shop.orders = list(store.orders)
    shop.products = [shopify_product_payload(p, public_url) for p in store.products]
    shop.currency, shop.storefront = store.currency, f"{public_url}/demo"

    async def install(request: Request) -> Response:
        return RedirectResponse(fake.install_url(public_url, DOMAIN), status_code=302)

    async def open_app(request: Request) -> Response:
        """As the Shopify admin opens an embedded app: its signed query with a session token
        (installs the shop by token exchange if needed, else signs in to its dashboard)."""
        return RedirectResponse(fake.app_home_url(public_url, DOMAIN), status_code=302)

    return [Route(INSTALL_PAGE, install), Route(ADMIN_PAGE, open_app),
            Mount(MOUNT, app=fake.app)]
