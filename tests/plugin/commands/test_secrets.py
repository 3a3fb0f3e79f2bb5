"""`shopreco secrets new-key | rotate` (plugin/commands/secrets.py): a new Fernet key for
SHOPRECO_SECRET_KEYS, and every stored access token sealed again under the first key."""

from __future__ import annotations

import uuid

import pytest

from plugin.config import Secret
from plugin.store import keys, sealing
from plugin.store.connection import text
from plugin.store.shops import PlatformAccess, add_shop, get_shop, shop_ids
from tests.conftest import Store
from tests.plugin.commands.conftest import Cli

TOKEN = "secret_0123456789abcdef0123456789abcdef"


def add_ecwid(store: Store) -> str:
    shop_id = "s-" + uuid.uuid4().hex[:12]
    store.run(lambda r: add_shop(
        r, shop_id, "ecwid", f"{shop_id}.example", "https://shop.example",
        access=PlatformAccess(store_ref=shop_id[2:], api_token=Secret(TOKEN))))
    return shop_id


def stored_token(store: Store, shop_id: str) -> str:
    return text(store.run(lambda r: r.hget(keys.shop_config(shop_id), "api_token")) or b"")


def test_new_key_prints_a_fresh_fernet_key(cli: Cli) -> None:
    first, second = cli("secrets", "new-key"), cli("secrets", "new-key")
    assert first.returncode == 0 and first.stderr == ""
    key = first.stdout.strip()
    assert first.stdout == key + "\n" and len(key) == 44
    assert sealing.Keyring([key]).unseal(sealing.Keyring([key]).seal(TOKEN)) == TOKEN
    assert second.stdout.strip() != key


def test_rotate_seals_every_token_again_and_one_stored_in_clear(
        own_cli: Cli, own_store: Store) -> None:
    sealed, clear = add_ecwid(own_store), add_ecwid(own_store)
    own_store.run(lambda r: r.hset(keys.shop_config(clear), "api_token", TOKEN))  # an old store
    before = stored_token(own_store, sealed)
    every = own_store.run(shop_ids)
    with_token = [s for s in every if stored_token(own_store, s)]
    result = own_cli("secrets", "rotate")
    assert result.returncode == 0, result.stderr
    assert result.json() == {"shops": len(every), "tokens_resealed": len(with_token)}
    assert TOKEN not in result.stdout + result.stderr
    assert stored_token(own_store, sealed) not in ("", before)  # sealed anew (Fernet: new IV)
    assert stored_token(own_store, clear).startswith(sealing.SEALED)
    for shop_id in (sealed, clear):
        shop = own_store.run(lambda r, s=shop_id: get_shop(r, s))
        assert shop is not None and shop.access.api_token.reveal() == TOKEN


def test_rotate_reseals_under_the_first_key_of_the_setting(
        own_cli: Cli, own_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented steps, each run as a new process would: a new key put first (the old
    kept after it), `secrets rotate`, and back (the test session seals with the old key)."""
    shop_id = add_ecwid(own_store)
    old = ",".join(sealing.keyring().keys)  # what this process seals and opens with
    new = own_cli("secrets", "new-key").stdout.strip()

    def rotate(keys_setting: str) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(sealing, "_keyring", None)  # a new process: no keyring yet
            result = own_cli("secrets", "rotate", SHOPRECO_SECRET_KEYS=keys_setting)
        assert result.returncode == 0, result.stderr

    try:
        rotate(f"{new},{old}")
        after = stored_token(own_store, shop_id)
        assert sealing.Keyring([new]).unseal(after) == TOKEN
        with pytest.raises(sealing.SealError):
            sealing.Keyring(old.split(",")).unseal(after)
    finally:
        rotate(f"{old},{new}")
    assert sealing.Keyring(old.split(",")).unseal(stored_token(own_store, shop_id)) == TOKEN


def test_a_key_setting_that_is_no_fernet_key_is_refused(own_cli: Cli, own_store: Store) -> None:
    shop_id = add_ecwid(own_store)
    before = stored_token(own_store, shop_id)
    result = own_cli("secrets", "rotate", SHOPRECO_SECRET_KEYS="not-a-key")
    assert result.returncode == 1 and "not a Fernet key" in result.stderr
    assert stored_token(own_store, shop_id) == before
