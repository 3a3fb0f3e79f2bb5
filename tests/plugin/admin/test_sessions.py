"""Owner sign-in (plugin/admin/sessions.py) on the embedded Redis: one-time login links, sessions
with their CSRF token, and only digests of the secrets kept."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from plugin.admin import sessions
from plugin.store import keys
from plugin.store.shops import NewShop
from tests.conftest import Store


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def token_of(link: str) -> str:
    return link.rpartition("token=")[2]


def test_a_login_link_names_its_shop_by_the_tokens_digest(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    link = store.run(lambda r: sessions.login_link(r, "https://reco.example/", shop_id))
    assert re.fullmatch(r"https://reco\.example/admin/login\?token=[\w-]{43}", link)
    token = token_of(link)
    key = keys.admin_login(digest(token))
    assert store.run(lambda r: r.get(key)) == shop_id.encode()
    assert store.run(lambda r: r.ttl(key)) in range(
        sessions.LINK_MINUTES * 60 - 5, sessions.LINK_MINUTES * 60 + 1)
    assert store.run(lambda r: r.keys(f"*{token}*")) == []  # the token itself is not kept


def test_a_links_lifetime_is_its_minutes(store: Store, shop: NewShop) -> None:
    link = store.run(lambda r: sessions.login_link(r, "http://x", shop.shop.shop_id, minutes=2))
    ttl = store.run(lambda r: r.ttl(keys.admin_login(digest(token_of(link)))))
    assert 115 <= ttl <= 120


def test_each_link_is_a_new_token(store: Store, shop: NewShop) -> None:
    links = {store.run(lambda r: sessions.login_link(r, "http://x", shop.shop.shop_id))
             for _ in range(3)}
    assert len(links) == 3


def test_looking_at_a_link_does_not_spend_it_redeeming_does(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    token = token_of(store.run(lambda r: sessions.login_link(r, "http://x", shop_id)))
    assert store.run(lambda r: sessions.link_shop(r, token)) == shop_id
    assert store.run(lambda r: sessions.link_shop(r, token)) == shop_id  # a mail scanner's GET
    assert store.run(lambda r: sessions.redeem(r, token)) == shop_id
    assert store.run(lambda r: sessions.redeem(r, token)) is None  # once only
    assert store.run(lambda r: sessions.link_shop(r, token)) is None


@pytest.mark.parametrize("token", ["", "made-up", "x" * 43])
def test_an_empty_or_unknown_token_names_no_shop(store: Store, token: str) -> None:
    assert store.run(lambda r: sessions.link_shop(r, token)) is None
    assert store.run(lambda r: sessions.redeem(r, token)) is None


def test_a_session_is_found_by_its_id_and_kept_by_digest(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    session_id, session = store.run(lambda r: sessions.start(r, shop_id))
    assert session.shop_id == shop_id and len(session.csrf) >= 32
    assert store.run(lambda r: sessions.find(r, session_id)) == session
    key = keys.admin_session(digest(session_id))
    assert store.run(lambda r: r.hgetall(key)) == {b"shop_id": shop_id.encode(),
                                                   b"csrf": session.csrf.encode(),
                                                   b"frame_domain": b""}
    assert store.run(lambda r: r.ttl(key)) in range(
        sessions.SESSION_HOURS * 3600 - 5, sessions.SESSION_HOURS * 3600 + 1)
    assert store.run(lambda r: r.keys(f"*{session_id}*")) == []


def test_a_sessions_lifetime_is_its_hours(store: Store, shop: NewShop) -> None:
    session_id, _ = store.run(lambda r: sessions.start(r, shop.shop.shop_id, hours=1))
    assert 3595 <= store.run(lambda r: r.ttl(keys.admin_session(digest(session_id)))) <= 3600


def test_sessions_are_apart(store: Store, make_shop: Any) -> None:
    mine, theirs = make_shop(), make_shop()
    first_id, first = store.run(lambda r: sessions.start(r, mine.shop.shop_id))
    second_id, second = store.run(lambda r: sessions.start(r, theirs.shop.shop_id))
    assert first_id != second_id and first.csrf != second.csrf
    assert store.run(lambda r: sessions.find(r, first_id)).shop_id == mine.shop.shop_id
    assert store.run(lambda r: sessions.find(r, second_id)).shop_id == theirs.shop.shop_id


@pytest.mark.parametrize("session_id", [None, "", "no-such-session"])
def test_no_or_an_unknown_cookie_is_no_session(store: Store, session_id: str | None) -> None:
    assert store.run(lambda r: sessions.find(r, session_id)) is None


def test_an_ended_session_is_gone_and_others_stay(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    ended, _ = store.run(lambda r: sessions.start(r, shop_id))
    kept, _ = store.run(lambda r: sessions.start(r, shop_id))
    store.run(lambda r: sessions.end(r, ended))
    store.run(lambda r: sessions.end(r, None))  # no cookie: nothing to end, no error
    assert store.run(lambda r: sessions.find(r, ended)) is None
    assert store.run(lambda r: sessions.find(r, kept)) is not None


@pytest.mark.parametrize(("given", "accepted"), [
    ("the-token", True), ("the-token ", False), ("THE-TOKEN", False), ("", False), (None, False),
    ("jeton-été", False),  # non-ASCII: refused, not a TypeError from compare_digest
])
def test_a_session_accepts_only_its_own_csrf_token(given: str | None, accepted: bool) -> None:
    assert sessions.Session("s", "the-token").accepts(given) is accepted
