"""A shop's API keys in the embedded Redis: named keys with scopes, the default key, rotation
with an overlap, revocation, last use, and the index that tells another shop's key."""

from __future__ import annotations

import pytest

from plugin.store import api_keys, keys
from plugin.store.api_keys import ADMIN, DEFAULT_KEY_ID, ApiKeyError, UnknownKey
from plugin.store.connection import text
from plugin.store.shops import get_shop
from tests.conftest import Store


def test_a_new_shop_has_its_default_key_with_every_scope(store: Store, shop) -> None:
    stored = store.run(lambda r: get_shop(r, shop.shop.shop_id))
    assert stored is not None
    key = stored.api_key(shop.api_key)
    assert key is not None and key.key_id == DEFAULT_KEY_ID and key.scopes == (ADMIN,)
    assert key.allows("privacy") and key.allows("catalog:write") and key.allows(None)
    assert stored.api_key("sk_" + "x" * 43) is None


def test_named_keys_hold_only_their_scopes_and_are_listed_without_secrets(store: Store,
                                                                          shop) -> None:
    shop_id = shop.shop.shop_id
    made = store.run(lambda r: api_keys.create_key(
        r, shop_id, " storefront ", ["recommendations:read", "recommendations:read"]))
    assert made.secret.startswith("sk_") and made.secret not in repr(made)
    assert made.key.name == "storefront" and made.key.scopes == ("recommendations:read",)
    stored = store.run(lambda r: get_shop(r, shop_id))
    key = stored.api_key(made.secret)
    assert key is not None and key.key_id == made.key.key_id
    assert key.allows("recommendations:read") and not key.allows("privacy")
    assert stored.api_key(shop.api_key).key_id == DEFAULT_KEY_ID  # the default still works
    listed = store.run(lambda r: api_keys.listed(r, shop_id))
    assert [k["key_id"] for k in listed] == [DEFAULT_KEY_ID, made.key.key_id]
    assert all(set(k) == {"key_id", "name", "scopes", "created_at", "expires_at",
                          "last_used_at"} for k in listed)
    assert made.secret not in str(listed) and api_keys.hash_secret(made.secret) not in str(listed)
    owner = store.run(lambda r: r.get(keys.api_key_index(api_keys.hash_secret(made.secret))))
    assert text(owner) == shop_id


@pytest.mark.parametrize(("name", "scopes", "message"), [
    ("x", ["everything"], "unknown scope 'everything'"),
    ("x", [], "at least one scope"),
    ("", ["admin"], "1 to 80 printable"),
    ("a\nb", ["admin"], "1 to 80 printable"),
    (7, ["admin"], "1 to 80 printable"),
])
def test_bad_names_and_scopes_are_refused_and_nothing_is_stored(store: Store, shop, name,
                                                                scopes, message) -> None:
    shop_id = shop.shop.shop_id
    with pytest.raises(ApiKeyError, match=message):
        store.run(lambda r: api_keys.create_key(r, shop_id, name, scopes))
    assert len(store.run(lambda r: api_keys.listed(r, shop_id))) == 1


def test_rotation_keeps_the_old_key_for_the_overlap_then_refuses_it(store: Store, shop) -> None:
    shop_id = shop.shop.shop_id
    made = store.run(lambda r: api_keys.create_key(r, shop_id, "app", ["lifecycle:read"]))
    new = store.run(lambda r: api_keys.rotate_key(r, shop_id, made.key.key_id, 3600))
    assert (new.key.name, new.key.scopes) == ("app", ("lifecycle:read",))
    stored = store.run(lambda r: get_shop(r, shop_id))
    old = stored.api_key(made.secret)
    assert old is not None and old.expires_at is not None
    assert stored.api_key(new.secret) is not None
    assert stored.api_key(made.secret, now=old.expires_at + 1) is None  # past the overlap
    assert stored.api_key(new.secret, now=old.expires_at + 1) is not None
    # with no overlap the old secret stops at once, and its index entry goes
    again = store.run(lambda r: api_keys.rotate_key(r, shop_id, new.key.key_id, 0))
    stored = store.run(lambda r: get_shop(r, shop_id))
    assert stored.api_key(new.secret) is None and stored.api_key(again.secret) is not None
    assert store.run(lambda r: r.get(keys.api_key_index(api_keys.hash_secret(new.secret)))) \
        is None


def test_rotating_the_default_key_keeps_it_default_and_the_old_secret_for_a_while(
        store: Store, shop) -> None:
    shop_id = shop.shop.shop_id
    new = store.run(lambda r: api_keys.rotate_key(r, shop_id, DEFAULT_KEY_ID, 60))
    stored = store.run(lambda r: get_shop(r, shop_id))
    assert stored.api_key(new.secret).key_id == DEFAULT_KEY_ID
    old = stored.api_key(shop.api_key)
    assert old is not None and old.key_id != DEFAULT_KEY_ID and old.scopes == (ADMIN,)
    assert old.expires_at is not None


def test_revoked_keys_stop_at_once_and_unknown_ids_are_named(store: Store, shop) -> None:
    shop_id = shop.shop.shop_id
    made = store.run(lambda r: api_keys.create_key(r, shop_id, "app", ["privacy"]))
    revoked = store.run(lambda r: api_keys.revoke_key(r, shop_id, made.key.key_id))
    assert revoked.key_id == made.key.key_id
    stored = store.run(lambda r: get_shop(r, shop_id))
    assert stored.api_key(made.secret) is None and stored.api_key(shop.api_key) is not None
    with pytest.raises(UnknownKey, match=f"has no API key {made.key.key_id!r}"):
        store.run(lambda r: api_keys.revoke_key(r, shop_id, made.key.key_id))
    with pytest.raises(ApiKeyError, match="does not exist"):
        store.run(lambda r: api_keys.create_key(r, "t-no-such-shop", "x", ["admin"]))
    store.run(lambda r: api_keys.revoke_key(r, shop_id, DEFAULT_KEY_ID))
    stored = store.run(lambda r: get_shop(r, shop_id))
    assert stored.api_key(shop.api_key) is None and stored.api_keys == ()


def test_last_use_is_listed(store: Store, shop) -> None:
    shop_id = shop.shop.shop_id
    store.run(lambda r: api_keys.note_use(r, shop_id, DEFAULT_KEY_ID, 1796000000.5))
    listed = store.run(lambda r: api_keys.listed(r, shop_id))
    assert listed[0]["last_used_at"] == 1796000000.5


def test_expired_keys_are_dropped_at_the_next_change(store: Store, shop) -> None:
    shop_id = shop.shop.shop_id
    made = store.run(lambda r: api_keys.create_key(r, shop_id, "app", ["privacy"]))
    store.run(lambda r: api_keys.rotate_key(r, shop_id, made.key.key_id, 1, now=1.0))
    # the old key ended at 2.0 (long ago): the next change drops it and its index entry
    store.run(lambda r: api_keys.create_key(r, shop_id, "other", ["privacy"]))
    assert store.run(lambda r: r.get(keys.api_key_index(api_keys.hash_secret(made.secret)))) \
        is None
    assert [k["name"] for k in store.run(lambda r: api_keys.listed(r, shop_id))] == [
        "default", "app", "other"]
