"""The local stand-in for Ecwid (plugin.demo.fake_ecwid) over real HTTP, held to the contracts
it follows: a consent dialog that checks the app's registration and sends the owner back with
a code or access_denied and the state, codes that work once (a second try disables the token),
a REST API that needs the store's token and the call's scope, the app storage, order pages,
signed webhooks that webhooks.ecwid accepts, and the storefront page that loads the app's
script."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from plugin.config import Secret
from plugin.demo.fake_ecwid import SCOPES, FakeEcwid
from tests.plugin.shopify.conftest import AppServer
from webhooks import ecwid

CLIENT_ID, SECRET = "fake-ecwid-app", "ecwid-secret-" + "a1b2c3d4e5f60718" * 2
OURS = "https://reco.example.com"
CALLBACK = OURS + "/connect/ecwid/callback"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeEcwid]:
    app = FakeEcwid(CLIENT_ID, SECRET)
    app.register(OURS)
    with AppServer(app.app) as url:
        app.base_url = url
        yield app


@pytest.fixture
def client(fake: FakeEcwid) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=30) as http:
        yield http


def authorize(client: httpx.Client, **changes: str) -> httpx.Response:
    params = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "response_type": "code",
              "scope": " ".join(SCOPES), "state": "s-123", **changes}
    return client.get("/api/oauth/authorize?" + urlencode(params))


def decide(client: httpx.Client, store_id: int, decision: str = "accept") -> dict[str, str]:
    dialog = authorize(client)
    found = re.search(r'name="dialog" value="([^"]+)"', dialog.text)
    assert dialog.status_code == 200 and found is not None
    back = client.post("/api/oauth/decide", data={"dialog": found[1], "store_id": str(store_id),
                                                  "decision": decision})
    assert back.status_code == 302
    where = urlsplit(back.headers["location"])
    assert f"{where.scheme}://{where.netloc}{where.path}" == CALLBACK
    return dict(parse_qsl(where.query))


def token_for(client: httpx.Client, code: str, **changes: str) -> httpx.Response:
    return client.post("/api/oauth/token", data={
        "client_id": CLIENT_ID, "client_secret": SECRET, "code": code, "redirect_uri": CALLBACK,
        "grant_type": "authorization_code", **changes})


def installed(fake: FakeEcwid, client: httpx.Client, orders: int = 0) -> tuple[int, str]:
    store_id = fake.add_store(orders).store_id
    answer = token_for(client, decide(client, store_id)["code"])
    assert answer.status_code == 200
    return store_id, answer.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_accepting_sends_the_owner_back_with_a_code_and_the_state(fake, client) -> None:
    back = decide(client, fake.add_store().store_id)
    assert set(back) == {"code", "state"} and back["state"] == "s-123"


def test_cancelling_sends_access_denied_and_the_state(fake, client) -> None:
    assert decide(client, fake.add_store().store_id, "cancel") == {
        "error": "access_denied", "state": "s-123"}


@pytest.mark.parametrize("changes", [
    {"client_id": "another-app"}, {"response_type": "token"},
    {"redirect_uri": "https://elsewhere.example/connect/ecwid/callback"},
    {"scope": "read_orders update_orders"}])
def test_a_dialog_the_registration_does_not_allow_is_refused(client, changes) -> None:
    assert authorize(client, **changes).status_code == 400


def test_a_code_gives_the_documented_answer_once(fake, client) -> None:
    store_id = fake.add_store().store_id
    code = decide(client, store_id)["code"]
    answer = token_for(client, code)
    assert answer.status_code == 200
    found = answer.json()
    assert set(found) == {"access_token", "token_type", "scope", "store_id", "public_token"}
    assert found["store_id"] == store_id and found["token_type"] == "bearer"
    assert set(found["scope"].split()) == set(SCOPES)
    assert found["access_token"] in fake.issued and found["public_token"] in fake.issued
    profile = client.get(f"/api/v3/{store_id}/profile", headers=bearer(found["access_token"]))
    assert profile.status_code == 200
    assert token_for(client, code).status_code == 400
    again = client.get(f"/api/v3/{store_id}/profile", headers=bearer(found["access_token"]))
    assert again.status_code == 403  # the second try disabled the token, as Ecwid documents


@pytest.mark.parametrize("changes", [
    {"client_secret": "wrong"}, {"grant_type": "client_credentials"},
    {"redirect_uri": OURS + "/other"}, {"code": "never-issued"}])
def test_a_token_request_ecwid_would_refuse_is_refused(fake, client, changes) -> None:
    issued = decide(client, fake.add_store().store_id)["code"]
    form = {"code": issued, **changes}
    assert token_for(client, **form).status_code in (400, 401)


def test_the_rest_api_needs_the_stores_own_token(fake, client) -> None:
    store_id, token = installed(fake, client)
    other, _ = installed(fake, client)
    assert client.get(f"/api/v3/{store_id}/profile").status_code == 403
    assert client.get(f"/api/v3/{other}/profile", headers=bearer(token)).status_code == 403
    profile = client.get(f"/api/v3/{store_id}/profile", headers=bearer(token)).json()
    assert profile["generalInfo"]["storeUrl"] == f"{fake.base_url}/store/{store_id}"
    assert profile["formatsAndUnits"]["currency"] == "EUR"


def test_orders_come_in_pages_and_one_by_one(fake, client) -> None:
    store_id, token = installed(fake, client, orders=7)
    first = client.get(f"/api/v3/{store_id}/orders", params={"offset": 0, "limit": 5},
                       headers=bearer(token)).json()
    rest = client.get(f"/api/v3/{store_id}/orders", params={"offset": 5, "limit": 5},
                      headers=bearer(token)).json()
    assert (first["total"], first["count"], rest["count"]) == (7, 5, 2)
    one = first["items"][0]
    by_id = client.get(f"/api/v3/{store_id}/orders/{one['id']}", headers=bearer(token))
    assert by_id.json() == one
    order = ecwid.parse_order(one, "EUR")  # the shape webhooks.ecwid reads
    assert not order.cancelled and order.lines
    product = client.get(f"/api/v3/{store_id}/products/1", headers=bearer(token)).json()
    assert ecwid.parse_product(product)["available"]
    missing = client.get(f"/api/v3/{store_id}/orders/nope", headers=bearer(token))
    assert missing.status_code == 404


def test_the_app_storage_keeps_a_json_value_by_key(fake, client) -> None:
    store_id, token = installed(fake, client)
    url = f"/api/v3/{store_id}/storage/public"
    assert client.get(url, headers=bearer(token)).status_code == 404
    plain = client.put(url, content=b"x", headers={**bearer(token), "Content-Type": "text/plain"})
    assert plain.status_code == 415
    saved = client.put(url, json={"value": '{"a": 1}'}, headers=bearer(token))
    assert saved.status_code == 200 and saved.json() == {"success": True}
    assert client.get(url, headers=bearer(token)).json() == {"key": "public", "value": '{"a": 1}'}
    assert client.delete(url, headers=bearer(token)).status_code == 200
    assert client.delete(url, headers=bearer(token)).status_code == 404


def test_a_token_without_the_scope_is_refused(fake, client) -> None:
    store_id = fake.add_store().store_id
    dialog = authorize(client, scope="read_store_profile read_orders")
    found = re.search(r'name="dialog" value="([^"]+)"', dialog.text)
    assert found is not None
    back = client.post("/api/oauth/decide", data={"dialog": found[1], "store_id": str(store_id),
                                                  "decision": "accept"})
    code = dict(parse_qsl(urlsplit(back.headers["location"]).query))["code"]
    token = token_for(client, code).json()["access_token"]
    assert client.get(f"/api/v3/{store_id}/orders", headers=bearer(token)).status_code == 200
    refused = client.put(f"/api/v3/{store_id}/storage/public", json={"value": "x"},
                         headers=bearer(token))
    assert refused.status_code == 403


def test_a_new_orders_webhook_is_signed_as_webhooks_ecwid_checks(fake, client) -> None:
    store_id, _ = installed(fake, client)
    signed = fake.order_webhook(store_id)
    assert signed.url.startswith(OURS + "/webhooks/ecwid?eventtype=order.created")
    payload = json.loads(signed.body)
    assert payload["storeId"] == store_id and payload["eventType"] == "order.created"
    assert ecwid.verify((Secret(SECRET),), {k.lower(): v for k, v in signed.headers.items()},
                        signed.body)
    assert not ecwid.verify((Secret("other"),), {k.lower(): v for k, v in
                                                 signed.headers.items()}, signed.body)
    assert fake.stores[store_id].orders[-1]["id"] == payload["data"]["orderId"]


def test_uninstalling_revokes_the_token_and_sends_application_uninstalled(fake, client) -> None:
    store_id, token = installed(fake, client)
    assert len(fake.hooks(store_id)) == len(fake.registration.events)
    signed = fake.uninstall(store_id)
    assert json.loads(signed.body)["eventType"] == "application.uninstalled"
    assert client.get(f"/api/v3/{store_id}/profile", headers=bearer(token)).status_code == 403
    assert fake.hooks(store_id) == []
    with pytest.raises(ValueError, match="not installed"):
        fake.order_webhook(store_id)


def test_the_storefront_loads_the_apps_script_only_where_it_is_installed(fake, client) -> None:
    bare = fake.add_store().store_id
    page = client.get(f"/store/{bare}", params={"page": "PRODUCT", "productId": "3"})
    assert page.status_code == 200 and "storefront.js" not in page.text
    store_id, token = installed(fake, client)
    client.put(f"/api/v3/{store_id}/storage/public", json={"value": "</script>"},
               headers=bearer(token))
    page = client.get(f"/store/{store_id}", params={"page": "PRODUCT", "productId": "3"})
    assert f'<script src="{OURS}/connect/ecwid/storefront.js"></script>' in page.text
    assert '"productId": 3' in page.text and "<\\/script>" not in page.text
    assert "</script>" not in page.text.split("<script>")[1].split("</script>")[0]
