"""Access tokens are sealed at rest, open with any key of the keyring, and rotate."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from plugin.config import Secret, Settings
from plugin.store import keys, sealing
from plugin.store.connection import text
from plugin.store.migrations import SEAL_TOKENS, migrate
from plugin.store.shops import PlatformAccess, add_shop, get_shop
from tests.conftest import Store, shopreco

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


def add_ecwid(store: Store, token: str = TOKEN) -> str:
    shop_id = "t-" + uuid.uuid4().hex[:12]
    store.run(lambda r: add_shop(
        r, shop_id, "ecwid", f"{shop_id}.example", "https://shop.example",
        access=PlatformAccess(store_ref=shop_id[2:], api_token=Secret(token))))
    return shop_id


def stored_token(store: Store, shop_id: str) -> str:
    raw = store.run(lambda r: r.hget(keys.shop_config(shop_id), "api_token"))
    return text(raw) if raw else ""


def test_a_token_is_stored_sealed_and_read_in_clear(store: Store) -> None:
    shop_id = add_ecwid(store)
    raw = stored_token(store, shop_id)
    assert raw.startswith(sealing.SEALED) and TOKEN not in raw
    assert all(TOKEN not in text(v) for v in store.run(
        lambda r: r.hvals(keys.shop_config(shop_id))))
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.access.api_token.reveal() == TOKEN
    assert TOKEN not in repr(shop)


def test_no_token_stays_empty(store: Store, shop) -> None:
    assert stored_token(store, shop.shop.shop_id) == ""


def test_any_key_of_the_keyring_opens_and_the_first_seals() -> None:
    old, new = sealing.new_key(), sealing.new_key()
    sealed_old = sealing.Keyring([old]).seal(TOKEN)
    both = sealing.Keyring([new, old])
    assert both.unseal(sealed_old) == TOKEN
    resealed = both.reseal(sealed_old)
    assert sealing.Keyring([new]).unseal(resealed) == TOKEN
    with pytest.raises(sealing.SealError, match="SHOPRECO_SECRET_KEYS") as refused:
        sealing.Keyring([new]).unseal(sealed_old)
    assert TOKEN not in str(refused.value)
    with pytest.raises(sealing.SealError, match="not a Fernet key"):
        sealing.Keyring(["not-a-key"])


def test_the_data_folder_key_is_made_once_private_and_shared(tmp_path: Path) -> None:
    first = sealing.Keyring.for_data_dir(tmp_path)
    path = tmp_path / sealing.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sealing.Keyring.for_data_dir(tmp_path).unseal(first.seal(TOKEN)) == TOKEN
    assert [p.name for p in tmp_path.iterdir()] == [sealing.KEY_FILE]  # no temporary left
    assert sealing.Keyring.for_settings(
        Settings(data_dir=tmp_path, secret_keys=(Secret(sealing.new_key()),))
    ).seal("x") != ""


def test_rotation_through_the_cli_reseals_every_token(store: Store) -> None:
    """The documented steps: new key first (old kept), `secrets rotate`, old key dropped."""
    shop_id = add_ecwid(store)
    old_key = (store.settings.data_dir / sealing.KEY_FILE).read_text().strip()
    new_key = shopreco(store, "secrets", "new-key").stdout.strip()
    before = stored_token(store, shop_id)
    rotated = shopreco(store, "secrets", "rotate",
                       SHOPRECO_SECRET_KEYS=f"{new_key},{old_key}", SHOPRECO_FSYNC_ALWAYS="false")
    assert rotated.returncode == 0, rotated.stderr
    assert '"tokens_resealed"' in rotated.stdout and TOKEN not in rotated.stdout + rotated.stderr
    after = stored_token(store, shop_id)
    assert after != before
    assert sealing.Keyring([new_key]).unseal(after) == TOKEN
    with pytest.raises(sealing.SealError):
        sealing.Keyring([old_key]).unseal(after)
    # the test session keeps sealing with the old key: rotate every shop's token back to it
    back = shopreco(store, "secrets", "rotate",
                    SHOPRECO_SECRET_KEYS=f"{old_key},{new_key}", SHOPRECO_FSYNC_ALWAYS="false")
    assert back.returncode == 0, back.stderr
    assert sealing.Keyring([old_key]).unseal(stored_token(store, shop_id)) == TOKEN


def test_the_migration_seals_tokens_stored_in_clear(store: Store) -> None:
    shop_id = add_ecwid(store)
    store.run(lambda r: r.hset(keys.shop_config(shop_id), "api_token", TOKEN))  # an old store
    store.run(lambda r: r.srem(keys.MIGRATIONS, SEAL_TOKENS))
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.access.api_token.reveal() == TOKEN  # readable meanwhile
    changed = store.run(migrate)
    assert changed[shop_id].tokens_sealed == 1
    assert stored_token(store, shop_id).startswith(sealing.SEALED)
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.access.api_token.reveal() == TOKEN


def test_the_first_store_a_process_opens_seals_and_later_ones_only_open() -> None:
    """A process that opens a second store (tests do) keeps sealing with the first store's
    key, and can open what the second's key sealed; `use` makes a keyring the sealing one."""
    before = sealing.keyring()
    first, second = sealing.new_key(), sealing.new_key()
    try:
        sealing.use(sealing.Keyring([first]))
        sealing.add(sealing.Keyring([second]))
        assert sealing.Keyring([first]).unseal(sealing.seal(TOKEN)) == TOKEN
        assert sealing.unseal(sealing.Keyring([second]).seal(TOKEN)) == TOKEN
    finally:
        sealing.use(before)  # the session's key seals again, first
    assert sealing.keyring().keys[0] == before.keys[0]
