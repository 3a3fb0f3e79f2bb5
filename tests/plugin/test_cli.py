"""The `shopreco` entry (plugin/cli.py): every command module registered once, in the order
`--help` lists them; settings read before a command runs; refusals exit 1 with one line; and
the CLI, a process of its own, shares the embedded Redis with the running server."""

from __future__ import annotations

import inspect
import json
import pkgutil
from typing import Any

import pytest
import uvloop

import plugin.commands
from plugin.cli import COMMANDS, build_parser, event_loop_factory, main
from plugin.store.shops import get_shop
from tests.conftest import Store, shopreco
from tests.helpers import body_of, order_payload, shopify_headers

# `shopreco --help`'s commands, as plugin.cli.COMMANDS orders their modules
LISTED = ["serve", "worker", "shops", "keys", "backfill", "train", "demo", "dead-letters",
          "privacy", "erase", "import-csv", "evaluate", "lifecycle", "widgets", "experiments",
          "secrets", "shopify", "admin"]


def test_shop_added_by_cli_receives_webhooks_on_the_running_server(store, http) -> None:
    result = shopreco(store, "shops", "add", "cli-two", "--platform", "shopify",
                      "--domain", "cli-two.myshopify.com")
    secret = json.loads(result.stdout)["webhook_secret"]
    body = body_of(order_payload(1, 1, [1]))
    response = http.post("/webhooks/shopify", content=body,
                         headers=shopify_headers("cli-two.myshopify.com", secret, body))
    assert response.status_code == 200


def sub_parsers(parser: Any) -> dict[str, Any]:
    """The sub-command parsers of `parser` by name (none for a leaf)."""
    found: dict[str, Any] = {}
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            found.update(action.choices)
    return found


def leaves(parser: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    children = sub_parsers(parser)
    if not children:
        return {path: parser}
    found: dict[tuple[str, ...], Any] = {}
    for name, child in children.items():
        found.update(leaves(child, (*path, name)))
    return found


def test_every_command_module_is_listed_once() -> None:
    modules = {name for _, name, _ in pkgutil.iter_modules(plugin.commands.__path__)}
    listed = [module.__name__.rsplit(".", 1)[1] for module in COMMANDS]
    assert sorted(listed) == sorted(modules) and len(set(listed)) == len(listed)


def test_help_lists_the_commands_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(sub_parsers(build_parser())) == LISTED
    with pytest.raises(SystemExit) as shown:
        main(["--help"])
    assert shown.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: shopreco ")
    shown_names = [line.split()[0] for line in out.splitlines()
                   if line.startswith("    ") and not line.startswith("     ")]
    assert shown_names == LISTED


def test_every_command_runs_an_async_function_of_args_and_settings() -> None:
    found = leaves(build_parser())
    assert ("shops", "add") in found and ("admin", "login-link") in found
    for path, parser in found.items():
        command = parser.get_default("command")
        assert inspect.iscoroutinefunction(command), path
        assert list(inspect.signature(command).parameters) == ["args", "settings"], path


@pytest.mark.parametrize("argv", [[], ["shops"], ["no-such-command"], ["train"]])
def test_a_missing_or_unknown_command_is_a_usage_error(argv: list[str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(argv)
    assert usage.value.code == 2 and "usage: shopreco" in capsys.readouterr().err


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store: Store,
        *argv: str, **env: str) -> tuple[int, str, str]:
    """`shopreco ARGV` in this process on the store's data folder; `env`: more variables."""
    with monkeypatch.context() as patch:
        patch.delenv("REDIS_URL", raising=False)
        patch.setenv("SHOPRECO_DATA_DIR", str(store.settings.data_dir))
        patch.setenv("SHOPRECO_FSYNC_ALWAYS", "false")
        for name, value in env.items():
            patch.setenv(name, value)
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
    return code, out, err


def test_a_bad_setting_exits_2_before_the_command_runs(store, monkeypatch, capsys) -> None:
    code, out, err = run(monkeypatch, capsys, store, "shops", "add", "cli-never",
                         "--platform", "shopify", "--domain", "cli-never.myshopify.com",
                         SHOPRECO_MAX_BODY_BYTES="lots")
    assert (code, out) == (2, "")
    assert err == "shopreco: SHOPRECO_MAX_BODY_BYTES must be an integer, got 'lots'\n"
    assert store.run(lambda r: get_shop(r, "cli-never")) is None
    assert run(monkeypatch, capsys, store, "shops", "list")[0] == 0  # the same store, fine


def test_the_settings_come_from_the_environment(store, monkeypatch, capsys) -> None:
    code, out, _ = run(monkeypatch, capsys, store, "shops", "add", "cli-env",
                       "--platform", "shopify", "--domain", "cli-env.myshopify.com",
                       SHOPRECO_PUBLIC_URL="https://elsewhere.example/")
    assert code == 0
    assert json.loads(out)["webhook_url"] == "https://elsewhere.example/webhooks/shopify"


def test_a_refusal_exits_1_with_one_line_and_no_traceback(store, monkeypatch, capsys) -> None:
    code, out, err = run(monkeypatch, capsys, store, "widgets", "stats", "no-such-shop")
    assert (code, out) == (1, "")
    assert err == "shopreco: no shop 'no-such-shop'; see `shopreco shops list`\n"  # ShopError
    code, _, err = run(monkeypatch, capsys, store, "widgets", "stats", "x", "--days", "0")
    assert code == 1 and err == "shopreco: --days must be from 1 to 400, got 0\n"  # ValueError


def test_commands_run_on_uvloop_where_it_is_installed() -> None:
    """The project installs uvloop: about twice the requests per core of asyncio's loop."""
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
