"""Optional owner passwords (plugin/admin/passwords.py): Argon2id at rest, the sign-in form
with its double-submit token, one shop's password never opening another, and the lock after
repeated wrong passwords."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from plugin.admin import passwords, sessions
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import NewShop
from tests.conftest import Store

SECRET_WORDS = "plum tractor glacier 42"


def with_password(store: Store, make_shop: Callable[..., NewShop]) -> NewShop:
    shop = make_shop()
    store.run(lambda r: passwords.set_password(r, shop.shop.shop_id, SECRET_WORDS))
    return shop


def form(client: httpx.Client) -> str:
    page = client.get("/admin/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token is not None
    assert 'for="password"' in page.text and 'for="shop_id"' in page.text  # labelled
    return token[1]


def sign_in(client: httpx.Client, shop_id: str, password: str, csrf: str | None = None
            ) -> httpx.Response:
    token = form(client) if csrf is None else csrf
    return client.post("/admin/password", data={"shop_id": shop_id, "password": password,
                                                 "csrf": token})


def test_the_password_is_stored_as_an_argon2id_hash(store, make_shop) -> None:
    shop = with_password(store, make_shop)
    stored = text(store.run(lambda r: r.get(keys.admin_password(shop.shop.shop_id))))
    assert stored.startswith("$argon2id$") and SECRET_WORDS not in stored


def test_the_right_password_opens_the_shops_dashboard(store, make_shop, base_url) -> None:
    shop = with_password(store, make_shop)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signed = sign_in(client, shop.shop.shop_id, SECRET_WORDS)
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
        assert "HttpOnly" in signed.headers["set-cookie"]
        page = client.get("/admin/")
        assert page.status_code == 200 and shop.shop.shop_id in page.text
        assert client.cookies.get(passwords.FORM_COOKIE) is None  # spent


@pytest.mark.parametrize("case", ["wrong password", "another shop's password", "unknown shop",
                                  "no password set"])
def test_wrong_credentials_are_refused_alike_and_start_no_session(
        store, make_shop, base_url, case) -> None:
    shop, other = with_password(store, make_shop), make_shop()
    if case == "another shop's password":
        store.run(lambda r: passwords.set_password(r, other.shop.shop_id, "another password 9"))
    shop_id, password = {
        "wrong password": (shop.shop.shop_id, SECRET_WORDS + "!"),
        "another shop's password": (shop.shop.shop_id, "another password 9"),
        "unknown shop": ("no-such-shop", SECRET_WORDS),
        "no password set": (other.shop.shop_id, SECRET_WORDS),
    }[case]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        refused = sign_in(client, shop_id, password)
        assert refused.status_code == 400 and "Wrong shop id or password." in refused.text
        assert client.cookies.get(sessions.COOKIE) is None
        assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_the_form_needs_its_token(store, make_shop, base_url) -> None:
    shop = with_password(store, make_shop)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form(client)
        forged = sign_in(client, shop.shop.shop_id, SECRET_WORDS, csrf="made-up")
        assert forged.status_code == 403 and "expired" in forged.text
    with httpx.Client(base_url=base_url, timeout=30) as fresh:  # no cookie at all
        blind = fresh.post("/admin/password", data={"shop_id": shop.shop.shop_id,
                                                    "password": SECRET_WORDS, "csrf": "x"})
        assert blind.status_code == 403 and fresh.cookies.get(sessions.COOKIE) is None


def test_repeated_wrong_passwords_lock_password_sign_in_for_the_shop(
        store, make_shop, base_url) -> None:
    shop = with_password(store, make_shop)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        csrf = form(client)
        for _ in range(passwords.FAILURES_ALLOWED):
            assert sign_in(client, shop.shop.shop_id, "guess guess guess", csrf).status_code \
                == 400
        locked = sign_in(client, shop.shop.shop_id, SECRET_WORDS, csrf)
        assert locked.status_code == 429 and "paused for 15 minutes" in locked.text
    ttl = store.run(lambda r: r.ttl(keys.admin_password_failures(shop.shop.shop_id)))
    assert 0 < ttl <= passwords.LOCK_SECONDS
    link = store.run(lambda r: sessions.login_link(r, base_url, shop.shop.shop_id))
    with httpx.Client(base_url=base_url, timeout=30) as client:  # a link still works
        client.post("/admin/login", data={"token": link.rpartition("=")[2]})
        assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("password", ["", "short", "x" * 11, "x" * 257])
def test_passwords_outside_the_length_rule_cannot_be_set(store, shop, password) -> None:
    with pytest.raises(passwords.PasswordRefused, match="12 to 256 characters"):
        store.run(lambda r: passwords.set_password(r, shop.shop.shop_id, password))
    assert store.run(lambda r: passwords.has_password(r, shop.shop.shop_id)) is False


def test_a_hash_made_with_weaker_parameters_is_made_again_at_sign_in(store, shop) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(SECRET_WORDS)
    key = keys.admin_password(shop.shop.shop_id)
    store.run(lambda r: r.set(key, weak))
    assert store.run(lambda r: passwords.verify(r, shop.shop.shop_id, SECRET_WORDS)) is True
    again = text(store.run(lambda r: r.get(key)))
    assert again != weak and not passwords.PasswordHasher().check_needs_rehash(again)
