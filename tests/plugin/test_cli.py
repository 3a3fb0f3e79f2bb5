"""The CLI shares the embedded Redis with the running server."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Store, shopreco
from tests.helpers import body_of, order_payload, shopify_headers


def test_shops_add_prints_the_contract_json(store: Store) -> None:
    result = shopreco(store, "shops", "add", "cli-one", "--platform", "shopify",
                      "--domain", "cli-one.myshopify.com", "--webhook-secret", "s3cret")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["webhook_secret"] == "s3cret"
    assert shown["webhook_url"] == "https://reco.example.com/webhooks/shopify"
    assert shown["api_key"].startswith("sk_") and shown["widget_key"].startswith("wk_")


def test_shop_added_by_cli_receives_webhooks_on_the_running_server(store, http) -> None:
    result = shopreco(store, "shops", "add", "cli-two", "--platform", "shopify",
                      "--domain", "cli-two.myshopify.com")
    secret = json.loads(result.stdout)["webhook_secret"]
    body = body_of(order_payload(1, 1, [1]))
    response = http.post("/webhooks/shopify", content=body,
                         headers=shopify_headers("cli-two.myshopify.com", secret, body))
    assert response.status_code == 200


def test_shops_list_shows_no_secrets(store: Store) -> None:
    added = json.loads(shopreco(store, "shops", "add", "cli-three", "--platform", "shopify",
                                "--domain", "cli-three.myshopify.com").stdout)
    listed = shopreco(store, "shops", "list")
    assert listed.returncode == 0
    assert "cli-three" in [s["shop_id"] for s in json.loads(listed.stdout)]
    assert added["api_key"] not in listed.stdout and added["webhook_secret"] not in listed.stdout


def test_api_key_is_stored_hashed(store: Store) -> None:
    added = json.loads(shopreco(store, "shops", "add", "cli-four", "--platform", "shopify",
                                "--domain", "cli-four.myshopify.com").stdout)

    async def dump(redis):  # every value of every key of the shop
        values = []
        async for key in redis.scan_iter(match="shopreco:*"):
            if await redis.type(key) == b"hash":
                values += (await redis.hgetall(key)).values()
            elif await redis.type(key) == b"string":
                values.append(await redis.get(key))
        return b" ".join(values) + b" ".join([k async for k in redis.scan_iter()])

    assert added["api_key"].encode() not in store.run(dump)


def test_duplicate_shop_is_refused_with_a_clear_message(store: Store) -> None:
    args = ("shops", "add", "cli-five", "--platform", "shopify", "--domain", "cli-5.myshopify.com")
    assert shopreco(store, *args).returncode == 0
    again = shopreco(store, *args)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_new_api_key_replaces_the_old_one(store: Store, base_url: str) -> None:
    old = json.loads(shopreco(store, "shops", "add", "cli-six", "--platform", "shopify",
                              "--domain", "cli-6.myshopify.com").stdout)["api_key"]
    new = json.loads(shopreco(store, "shops", "new-api-key", "cli-six").stdout)["api_key"]
    url = f"{base_url}/api/v1/shops/cli-six/recommendations/trending"
    assert httpx.get(url, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {new}"}).status_code == 200
