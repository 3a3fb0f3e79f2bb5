"""`shopreco admin login-link SHOP_ID [--minutes N]` (plugin/commands/admin.py): a one-time
sign-in link to the shop's dashboard, valid for --minutes."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from plugin.admin.sessions import LINK_MINUTES, link_shop
from plugin.store import keys
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.plugin.commands.conftest import Cli

LINK = re.compile(r"https://reco\.example\.com/admin/login\?token=([\w-]{43})\n")


def token_ttl(store: Store, token: str) -> int:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return int(store.run(lambda r: r.ttl(keys.admin_login(digest))))


def test_prints_a_link_that_names_the_shop_for_15_minutes(cli: Cli, store: Store,
                                                          shop: NewShop) -> None:
    printed = cli("admin", "login-link", shop.shop.shop_id)
    assert printed.returncode == 0, printed.stderr
    found = LINK.fullmatch(printed.stdout)
    assert found is not None, printed.stdout
    assert store.run(lambda r: link_shop(r, found[1])) == shop.shop.shop_id
    assert LINK_MINUTES * 60 - 5 <= token_ttl(store, found[1]) <= LINK_MINUTES * 60


def test_minutes_set_how_long_the_link_works(cli: Cli, store: Store, shop: NewShop) -> None:
    printed = cli("admin", "login-link", shop.shop.shop_id, "--minutes", "1440")
    found = LINK.fullmatch(printed.stdout)
    assert found is not None
    assert 1440 * 60 - 5 <= token_ttl(store, found[1]) <= 1440 * 60
    again = LINK.fullmatch(cli("admin", "login-link", shop.shop.shop_id).stdout)
    assert again is not None and again[1] != found[1]  # a new link each time


@pytest.mark.parametrize("minutes", ["0", "1441", "-5"])
def test_minutes_out_of_range_are_refused(cli: Cli, shop: NewShop, minutes: str) -> None:
    result = cli("admin", "login-link", shop.shop.shop_id, "--minutes", minutes)
    assert (result.returncode, result.stdout) == (1, "")
    assert "--minutes must be from 1 to 1440" in result.stderr


def test_an_unknown_shop_gets_no_link(cli: Cli, store: Store) -> None:
    before = store.run(lambda r: r.keys(keys.admin_login("*")))
    result = cli("admin", "login-link", "t-no-such-shop")
    assert (result.returncode, result.stdout) == (1, "")
    assert "no shop 't-no-such-shop' is registered here" in result.stderr
    assert sorted(store.run(lambda r: r.keys(keys.admin_login("*")))) == sorted(before)


def test_set_password_reads_standard_input_and_clear_password_turns_it_off(
        cli: Cli, store: Store, shop: NewShop, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.admin.passwords import has_password, verify

    shop_id = shop.shop.shop_id
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    done = cli("admin", "set-password", shop_id)
    assert (done.returncode, done.stdout) == (0, f"password sign-in is on for {shop_id} "
                                                 "(/admin/signin)\n"), done.stderr
    assert store.run(lambda r: verify(r, shop_id, "correct horse battery")) is True
    assert store.run(lambda r: verify(r, shop_id, "correct horse battery\n")) is False
    off = cli("admin", "clear-password", shop_id)
    assert off.returncode == 0 and store.run(lambda r: has_password(r, shop_id)) is False
    assert cli("admin", "clear-password", shop_id).stdout.endswith("(it had none)\n")


def test_a_short_password_or_an_unknown_shop_is_refused_in_one_line(
        cli: Cli, shop: NewShop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    short = cli("admin", "set-password", shop.shop.shop_id)
    assert short.returncode == 1 and "12 to 256 characters" in short.stderr
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough password\n"))
    unknown = cli("admin", "set-password", "no-such-shop")
    assert unknown.returncode == 1 and "no shop 'no-such-shop'" in unknown.stderr
