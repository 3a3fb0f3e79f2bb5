"""The demo's "Connect a shop": local stand-ins for WooCommerce, BigCommerce and Ecwid
(plugin.demo.fake_woocommerce, fake_bigcommerce, fake_ecwid) mounted on the demo server, each
holding a store with a few weeks of orders, so a newcomer can click through every one-click
connect: the platform's consent page, our callback, the landing page with the import's
progress, the dashboard's Connection page. The BigCommerce and Ecwid apps are the fakes' own,
used only when no real app is configured.

    GET /demo/connect   the three demo stores and how to connect each
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from plugin.config import Secret, Settings
from plugin.connect import bigcommerce as bigcommerce_connect
from plugin.demo.fake_bigcommerce import FakeBigCommerce
from plugin.demo.fake_ecwid import FakeEcwid
from plugin.demo.fake_woocommerce import FakeWooCommerce

PAGE = "/demo/connect"
WOO_MOUNT, BC_MOUNT, ECWID_MOUNT = "/fake-woocommerce", "/fake-bigcommerce", "/fake-ecwid"
BC_CLIENT_ID = "demo-bigcommerce-app"
BC_SECRET = "demo-bigcommerce-secret-0123456789abcdef"  # only ever the fake's
ECWID_CLIENT_ID = "demo-ecwid-app"
ECWID_SECRET = "demo-ecwid-secret-0123456789abcdef"  # only ever the fake's
ORDERS = 40


def with_fake_platforms(settings: Settings, public_url: str) -> Settings:
    """The settings with the fakes' BigCommerce and Ecwid apps, unless real ones are set."""
    if not settings.bigcommerce_client_id:
        settings = replace(settings, bigcommerce_client_id=BC_CLIENT_ID,
                           bigcommerce_client_secret=Secret(BC_SECRET),
                           bigcommerce_login_url=public_url + BC_MOUNT,
                           bigcommerce_api_url=public_url + BC_MOUNT)
    if not settings.ecwid_client_id:
        settings = replace(settings, ecwid_client_id=ECWID_CLIENT_ID,
                           ecwid_client_secret=Secret(ECWID_SECRET),
                           ecwid_oauth_url=public_url + ECWID_MOUNT,
                           ecwid_api_url=public_url + ECWID_MOUNT + "/api/v3")
    return settings


@dataclass(frozen=True)
class DemoStores:
    """Where the newcomer connects from: the WooCommerce store's address, the BigCommerce
    install link for its store, the Ecwid store's id (the fake's consent asks for it)."""

    woocommerce: str
    bigcommerce: str
    ecwid: int


def demo_connect_routes(settings: Settings, public_url: str) -> list[BaseRoute]:
    """The fakes (for the apps the demo configured itself) and the page that explains them."""
    routes: list[BaseRoute] = []
    woo = FakeWooCommerce(https_callbacks_only=False)  # the demo is served over http
    woo.base_url = public_url + WOO_MOUNT
    woo_store = woo.store_url(woo.new_store(ORDERS).name)
    routes.append(Mount(WOO_MOUNT, app=woo.app))
    install = ""
    if settings.bigcommerce_client_id == BC_CLIENT_ID:
        bc = FakeBigCommerce(BC_CLIENT_ID, BC_SECRET)
        bc.base_url = public_url + BC_MOUNT
        bc.callbacks = {name: public_url + path
                        for name, path in bigcommerce_connect.PATHS.items()}
        install = (f"{bc.base_url}/app/{BC_CLIENT_ID}/install?store="
                   f"{bc.add_store(ORDERS)}")
        routes.append(Mount(BC_MOUNT, app=bc.app))
    ecwid_store = 0
    if settings.ecwid_client_id == ECWID_CLIENT_ID:
        ecwid = FakeEcwid(ECWID_CLIENT_ID, ECWID_SECRET)
        ecwid.base_url = public_url + ECWID_MOUNT
        ecwid.register(public_url)
        ecwid_store = ecwid.add_store(ORDERS).store_id
        routes.append(Mount(ECWID_MOUNT, app=ecwid.app))
    stores = DemoStores(woo_store, install, ecwid_store)

    async def page(request: Request) -> Response:
        return HTMLResponse(_page(stores))

    return [Route(PAGE, page), *routes]


def _page(stores: DemoStores) -> str:
    bc = ("" if not stores.bigcommerce else
          f"<li><strong>BigCommerce</strong>: merchants install from their control panel; "
          f"here, <a id='demo-bigcommerce' href='{html.escape(stores.bigcommerce)}'>open the "
          "install page of the demo BigCommerce store</a> and press Install.</li>")
    ecwid = ("" if not stores.ecwid else
             f"<li><strong>Ecwid</strong>: on <a href='/connect'>Connect a shop</a>, press "
             f"<em>Connect your Ecwid store</em>; on Ecwid's page, name the store "
             f"<code id='demo-ecwid'>{stores.ecwid}</code> and accept.</li>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect a demo shop · shopreco</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head>
<body><h1>Connect a demo shop</h1>
<p>Local stand-ins for WooCommerce, BigCommerce and Ecwid run inside this demo, each with a
store of {ORDERS} orders. Connect one as its owner would: approve on the platform's page, then
watch the import on the landing page and open the dashboard's <em>Connection</em> page.</p>
<ul>
<li><strong>WooCommerce</strong>: on <a href='/connect'>Connect a shop</a>, enter the store
address <code id='demo-woocommerce'>{html.escape(stores.woocommerce)}</code> and approve.</li>
{bc}
{ecwid}
</ul>
</body></html>"""
