"""`shopreco keys` in a process of its own on the shared embedded Redis: create prints the
secret once, list never does, rotate and revoke change what the API accepts."""

from __future__ import annotations

import json

from tests.conftest import shopreco
from tests.helpers import auth, eventually


def test_keys_create_list_rotate_revoke_from_the_command_line(store, http, shop) -> None:
    shop_id = shop.shop.shop_id
    made = shopreco(store, "keys", "create", shop_id, "--name", "crm",
                    "--scope", "lifecycle:read", "--scope", "privacy")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    secret, key_id = created["api_key"], created["key"]["key_id"]
    assert created["key"]["scopes"] == ["lifecycle:read", "privacy"]
    base = f"/api/v1/shops/{shop_id}"
    bearer = {"Authorization": f"Bearer {secret}"}
    assert http.get(f"{base}/lifecycle/stages", headers=bearer).status_code == 200
    assert http.get(f"{base}/recommendations/trending", headers=bearer).status_code == 403
    listed = shopreco(store, "keys", "list", shop_id)
    assert listed.returncode == 0 and secret not in listed.stdout
    assert [k["name"] for k in json.loads(listed.stdout)["keys"]] == ["default", "crm"]
    rotated = shopreco(store, "keys", "rotate", shop_id, key_id, "--overlap-hours", "0")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["api_key"]

    def refused(headers: dict[str, str]) -> None:  # the server's cache sees it within 0.25 s
        assert http.get(f"{base}/lifecycle/stages", headers=headers).status_code == 401

    eventually(lambda: refused(bearer))
    new_key_id = json.loads(rotated.stdout)["key"]["key_id"]
    revoked = shopreco(store, "keys", "revoke", shop_id, new_key_id)
    assert revoked.returncode == 0, revoked.stderr
    eventually(lambda: refused({"Authorization": f"Bearer {new}"}))
    assert http.get(f"{base}/lifecycle/stages", headers=auth(shop)).status_code == 200


def test_keys_refusals_exit_1_with_the_reason(store, shop) -> None:
    unknown = shopreco(store, "keys", "revoke", shop.shop.shop_id, "key_nope")
    assert unknown.returncode == 1 and "has no API key 'key_nope'" in unknown.stderr
    bad = shopreco(store, "keys", "create", shop.shop.shop_id, "--name", "x", "--scope", "root")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    missing = shopreco(store, "keys", "list", "t-no-such-shop")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
