"""The local stand-in for Shopify (plugin.demo.fake_shopify) over real HTTP, held to the contracts
it follows: a consent page that signs its redirect like Shopify, codes that work once, session
tokens checked like Shopify checks them, Admin API calls that need the token, REST pages linked
by page_info, the leaky bucket's 429s, and the GraphQL operations the install uses."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
import uvicorn

from plugin.demo.fake_shopify import FakeShopify
from plugin.shopify.auth import query_hmac

CLIENT_ID, SECRET = "fake-test-app", "shpss_" + "0f1e2d3c4b5a6978" * 2
VERSION = "2025-01"


class Served:
    """The fake's app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "the fake did not start"
            self.thread.join(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeShopify]:
    shopify = FakeShopify(CLIENT_ID, SECRET)
    with Served(shopify.app) as url:
        shopify.base_url = url
        yield shopify


@pytest.fixture
def client(fake: FakeShopify) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=30) as http:
        yield http


def new_domain(fake: FakeShopify, orders: int = 0, products: int = 0) -> str:
    domain = f"f{time.monotonic_ns() % 10**12}.myshopify.com"
    shop = fake.shop(domain)
    shop.orders = [{"id": n} for n in range(orders)]
    shop.products = [{"id": 1000 + n} for n in range(products)]
    return domain


def signed_correctly(query: str) -> dict[str, str]:
    pairs = parse_qsl(query)
    given = dict(pairs).get("hmac")
    assert given == query_hmac([p for p in pairs if p[0] != "hmac"], SECRET)
    return dict(pairs)


def consent(client: httpx.Client, domain: str, **params: str) -> httpx.Response:
    return client.get(f"/{domain}/admin/oauth/authorize", params={
        "client_id": CLIENT_ID, "scope": "read_orders", "redirect_uri": "https://app.example/cb",
        "state": "st-1", **params})


def code_of(page: str) -> str:
    href = re.search(r'id="approve" href="([^"]+)"', page)
    assert href is not None
    return dict(parse_qsl(urlsplit(html.unescape(href[1])).query))["code"]


def token(client: httpx.Client, domain: str) -> str:
    answer = client.post(f"/{domain}/admin/oauth/access_token", data={
        "client_id": CLIENT_ID, "client_secret": SECRET, "code": code_of(consent(client, domain)
                                                                          .text)})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_the_consent_page_sends_the_owner_back_signed_like_shopify(
        fake: FakeShopify, client: httpx.Client) -> None:
    domain = new_domain(fake)
    page = consent(client, domain)
    assert page.status_code == 200
    assert f"Install shopreco on {domain}?" in page.text and "read_orders" in page.text
    href = re.search(r'id="approve" href="([^"]+)"', page.text)
    assert href is not None
    target = urlsplit(html.unescape(href[1]))
    assert (target.scheme, target.netloc, target.path) == ("https", "app.example", "/cb")
    back = signed_correctly(target.query)
    assert (back["shop"], back["state"], back["host"]) == (domain, "st-1", "ZmFrZQ")
    assert abs(int(back["timestamp"]) - time.time()) < 60


def test_a_consent_page_for_another_app_or_without_a_redirect_is_refused(
        fake: FakeShopify, client: httpx.Client) -> None:
    domain = new_domain(fake)
    assert consent(client, domain, client_id="someone-else").status_code == 400
    assert consent(client, domain, redirect_uri="").json() == {"error": "invalid_request"}


def test_a_code_is_exchanged_once_for_its_shop_by_this_app_only(
        fake: FakeShopify, client: httpx.Client) -> None:
    domain, other = new_domain(fake), new_domain(fake)
    code = code_of(consent(client, domain).text)
    form = {"client_id": CLIENT_ID, "client_secret": SECRET, "code": code}
    wrong = client.post(f"/{domain}/admin/oauth/access_token",
                        data={**form, "client_secret": "nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    elsewhere = client.post(f"/{other}/admin/oauth/access_token", data=form)
    assert elsewhere.status_code == 400  # a code is its shop's (and is spent now)
    code = code_of(consent(client, domain).text)
    granted = client.post(f"/{domain}/admin/oauth/access_token",
                          json={**form, "code": code})  # a JSON body works too
    assert granted.status_code == 200
    assert granted.json()["access_token"].startswith("shpat_")
    assert granted.json()["access_token"] in fake.shop(domain).tokens
    again = client.post(f"/{domain}/admin/oauth/access_token", json={**form, "code": code})
    assert again.status_code == 400 and "already used" in again.json()["error_description"]


def test_a_session_token_is_exchanged_only_when_shopify_would_accept_it(
        fake: FakeShopify, client: httpx.Client) -> None:
    domain, other = new_domain(fake), new_domain(fake)
    claims = jwt.decode(fake.session_token(domain), SECRET, algorithms=["HS256"],
                        audience=CLIENT_ID)
    assert (claims["dest"], claims["iss"]) == (f"https://{domain}", f"https://{domain}/admin")

    def exchange(subject: str) -> httpx.Response:
        return client.post(f"/{domain}/admin/oauth/access_token", data={
            "client_id": CLIENT_ID, "client_secret": SECRET, "subject_token": subject,
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"})

    assert exchange(fake.session_token(domain)).status_code == 200
    assert exchange(fake.session_token(other)).status_code == 400  # another shop's
    assert exchange(FakeShopify(CLIENT_ID, "x" * 40).session_token(domain)).status_code == 400
    assert exchange(FakeShopify("another-app", SECRET).session_token(domain)).status_code == 400
    assert exchange(fake.session_token(domain, lifetime=-60)).status_code == 400  # expired
    assert exchange("not-a-jwt").json() == {"error": "invalid_subject_token"}


def test_the_install_and_app_home_links_are_signed_queries(fake: FakeShopify) -> None:
    domain = new_domain(fake)
    install = urlsplit(fake.install_url("https://reco.example", domain))
    assert (install.netloc, install.path) == ("reco.example", "/shopify/install")
    assert signed_correctly(install.query)["shop"] == domain
    home = urlsplit(fake.app_home_url("https://reco.example", domain))
    assert home.path == "/shopify/app"
    query = signed_correctly(home.query)
    assert query["embedded"] == "1"
    assert jwt.decode(query["id_token"], SECRET, algorithms=["HS256"],
                      audience=CLIENT_ID)["dest"] == f"https://{domain}"


def test_admin_calls_need_the_shops_token(fake: FakeShopify, client: httpx.Client) -> None:
    domain, other = new_domain(fake, orders=3), new_domain(fake)
    path = f"/{domain}/admin/api/{VERSION}/orders/count.json"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"X-Shopify-Access-Token": token(client, other)}
                      ).status_code == 401  # another shop's token
    counted = client.get(path, headers={"X-Shopify-Access-Token": token(client, domain)})
    assert (counted.status_code, counted.json()) == (200, {"count": 3})
    assert ("GET", path) in fake.calls


def test_rest_pages_follow_their_next_links_to_the_end(
        fake: FakeShopify, client: httpx.Client) -> None:
    domain = new_domain(fake, orders=7, products=2)
    headers = {"X-Shopify-Access-Token": token(client, domain)}
    seen: list[int] = []
    url: str | None = f"/{domain}/admin/api/{VERSION}/orders.json?limit=3"
    pages = 0
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200
        seen += [order["id"] for order in page.json()["orders"]]
        link = re.match(r'<([^>]+)>; rel="next"', page.headers.get("link", ""))
        url, pages = (link[1] if link else None), pages + 1
    assert seen == list(range(7)) and pages == 3
    products = client.get(f"/{domain}/admin/api/{VERSION}/products.json", headers=headers)
    assert products.json() == {"products": [{"id": 1000}, {"id": 1001}]}
    assert "link" not in products.headers
    capped = client.get(f"/{domain}/admin/api/{VERSION}/orders.json?limit=9999", headers=headers)
    assert len(capped.json()["orders"]) == 7
    unknown = client.get(f"/{domain}/admin/api/{VERSION}/customers.json", headers=headers)
    assert unknown.status_code == 404


def test_every_nth_admin_call_is_throttled_with_retry_after() -> None:
    throttled = FakeShopify(CLIENT_ID, SECRET, throttle_every=3)
    with Served(throttled.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        domain = new_domain(throttled, orders=1)
        headers = {"X-Shopify-Access-Token": token(client, domain)}
        statuses = [client.get(f"/{domain}/admin/api/{VERSION}/orders/count.json",
                               headers=headers) for _ in range(6)]
    assert [s.status_code for s in statuses] == [200, 200, 429, 200, 200, 429]
    assert statuses[2].headers["retry-after"] == "1.0"


def test_graphql_answers_the_installation_the_shop_and_sets_metafields(
        fake: FakeShopify, client: httpx.Client) -> None:
    domain = new_domain(fake)
    fake.shop(domain).currency = "JPY"
    headers = {"X-Shopify-Access-Token": token(client, domain)}
    path = f"/{domain}/admin/api/{VERSION}/graphql.json"
    found = client.post(path, headers=headers, json={
        "query": "{ currentAppInstallation { id } shop { currencyCode } }"}).json()["data"]
    installation = fake.shop(domain).installation
    assert found == {"currentAppInstallation": {"id": installation}, "shop": {
        "currencyCode": "JPY", "primaryDomain": {"url": f"https://{domain}"}}}
    fake.shop(domain).storefront = "https://www.shop.example"
    again = client.post(path, headers=headers, json={"query": "{ currentAppInstallation { id } }"})
    assert again.json()["data"]["shop"]["primaryDomain"] == {"url": "https://www.shop.example"}
    metafields = [{"ownerId": installation, "namespace": "shopreco", "key": "widget_key",
                   "value": "wk_1", "type": "single_line_text_field"},
                  {"ownerId": "gid://shopify/AppInstallation/1", "namespace": "shopreco",
                   "key": "base_url", "value": "https://x", "type": "single_line_text_field"}]
    answer = client.post(path, headers=headers, json={
        "query": "mutation M($metafields: [MetafieldsSetInput!]!) { metafieldsSet(metafields: "
                 "$metafields) { metafields { key } userErrors { field message } } }",
        "variables": {"metafields": metafields}}).json()["data"]["metafieldsSet"]
    assert answer == {"metafields": [{"key": "widget_key"}], "userErrors": [
        {"field": ["ownerId"], "message": "Owner does not exist"}]}
    assert fake.shop(domain).metafields == {"shopreco.widget_key": "wk_1"}
    unknown = client.post(path, headers=headers, json={"query": "{ products { id } }"})
    assert unknown.json() == {"errors": [{"message": "unknown operation"}]}
    assert client.post(path, json={"query": "{ shop { id } }"}).status_code == 401
