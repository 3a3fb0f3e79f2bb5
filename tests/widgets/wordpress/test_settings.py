"""The plugin's settings page (Settings > shopreco) through the stubbed Settings API: only for
users who may manage options, saved by options.php with the form's nonce through the
sanitize callback; the connection code that fills the URL and the widget key; uninstalling
deletes the settings."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.widgets.wordpress.php import (
    KEY,
    SETTINGS,
    URL,
    connected,
    connection_code,
    elements,
    run,
)

ADMIN: dict[str, Any] = {"admin": True, "user": 1, "caps": ["manage_options", "read"]}
EDITOR: dict[str, Any] = {"admin": True, "user": 2, "caps": ["edit_posts", "read"]}
ALL_SPOTS = ["product", "cart", "thank_you", "home"]


def settings_page(**state: Any) -> dict[str, Any]:
    return run("admin_page", "shopreco", **{**ADMIN, **state})


def form_fields(html: str) -> dict[str, str | None]:
    """The form's inputs and textareas by name (checkboxes: the checked ones' values)."""
    fields: dict[str, str | None] = {}
    for attrs in elements(html, "input") + elements(html, "textarea"):
        name = attrs.get("name") or ""
        if attrs.get("type") == "checkbox":
            if "checked" in attrs:
                fields[f"{name}{attrs['value']}"] = attrs["value"]
        else:
            fields[name] = attrs.get("value")
    return fields


def save(options: dict[str, Any], form: dict[str, Any], user: dict[str, Any] = ADMIN,
         nonce: str | None = None) -> dict[str, Any]:
    """Submits the settings form as a browser would: the hidden fields of the page as the
    admin sees it (or another `nonce`), and the settings fields in `form`."""
    hidden = form_fields(settings_page(options=options)["html"])
    post = {name: hidden[name] for name in ("option_page", "action", "_wpnonce")}
    if nonce is not None:
        post["_wpnonce"] = nonce
    return run("options.php", options=options, post={**post, SETTINGS: form}, **user)


def nonce(user: dict[str, Any]) -> str:
    """The settings form's nonce for `user`."""
    return str(run("call", "wp_create_nonce", "shopreco-options", **user)["html"])


def test_the_page_is_under_settings_for_users_who_manage_options() -> None:
    page = settings_page(options=connected(spots=["cart"]))
    assert page["pages"] == {"shopreco": {"title": "shopreco", "capability": "manage_options"}}
    assert page["settings"] == {SETTINGS: "shopreco"}
    forms = elements(page["html"], "form")
    assert forms == [{"action": "options.php", "method": "post"}]
    fields = form_fields(page["html"])
    assert fields["option_page"] == "shopreco" and fields["action"] == "update"
    assert fields["_wpnonce"]
    assert fields[f"{SETTINGS}[url]"] == URL and fields[f"{SETTINGS}[widget_key]"] == KEY
    assert f"{SETTINGS}[connection_code]" in fields
    assert [name for name in fields if "[spots]" in name] == [f"{SETTINGS}[spots][]cart"]
    assert {a["for"] for a in elements(page["html"], "label") if "for" in a} == {
        "shopreco-connection-code", "shopreco-url", "shopreco-widget-key"}
    assert "Connected: the widgets load from https://reco.example.com." in page["html"]


def test_a_new_site_shows_every_page_on_and_says_it_is_not_connected() -> None:
    page = settings_page()
    fields = form_fields(page["html"])
    assert fields[f"{SETTINGS}[url]"] == "" and fields[f"{SETTINGS}[widget_key]"] == ""
    assert [v for name, v in fields.items() if "[spots]" in name] == ALL_SPOTS
    assert "Not connected yet" in page["html"]


def test_other_users_get_neither_the_page_nor_its_callback() -> None:
    assert settings_page(**EDITOR)["died"] == "Sorry, you are not allowed to access this page."
    called = run("call", "shopreco_settings_page", options=connected(), **EDITOR)
    assert called["html"] == "" and called["died"] is None


def test_the_page_escapes_saved_values() -> None:
    evil = 'x" autofocus onfocus="alert(1)'
    page = settings_page(options=connected(url=evil, key=evil))
    fields = form_fields(page["html"])
    assert fields[f"{SETTINGS}[url]"] == evil and fields[f"{SETTINGS}[widget_key]"] == evil
    assert all("onfocus" not in attrs for attrs in elements(page["html"], "input"))


def test_saving_cleans_the_url_and_keeps_the_chosen_pages() -> None:
    saved = save({}, {"url": " https://reco.example.com/ ", "widget_key": f" {KEY} ",
                      "spots": ["home", "evil", "cart"], "connection_code": ""})
    assert saved["died"] is None and saved["errors"] == []
    assert saved["options"][SETTINGS] == {"url": URL, "widget_key": KEY,
                                          "spots": ["cart", "home"]}


@pytest.mark.parametrize(("url", "key"), [
    ("javascript:alert(1)", KEY), ("reco.example.com", KEY), (URL, 'wk_"<script>'),
    (URL, "wk key"),
])
def test_an_invalid_field_keeps_its_saved_value_and_says_why(url: str, key: str) -> None:
    before = connected(url="https://old.example.com", key="wk_old", spots=ALL_SPOTS)
    saved = save(before, {"url": url, "widget_key": key, "spots": ALL_SPOTS})
    assert saved["options"][SETTINGS] == {
        "url": URL if url == URL else "https://old.example.com",
        "widget_key": KEY if key == KEY else "wk_old", "spots": ALL_SPOTS}
    assert len(saved["errors"]) == 1 and saved["errors"][0]["setting"] == SETTINGS


def test_a_url_keeps_its_path_and_port_but_not_its_query() -> None:
    saved = save({}, {"url": "http://10.0.0.5:8000/reco/?x=1#top", "widget_key": KEY})
    assert saved["options"][SETTINGS]["url"] == "http://10.0.0.5:8000/reco"


def test_the_connection_code_fills_both_fields() -> None:
    code = connection_code("https://shopreco.example.org/", "wk_AbC-12_z")
    before = connected(url="https://old.example.com", key="wk_old", spots=["cart"])
    saved = save(before, {"url": "https://old.example.com", "widget_key": "wk_old",
                          "spots": ["cart"], "connection_code": f"  {code}\n"})
    assert saved["errors"] == []
    assert saved["options"][SETTINGS] == {"url": "https://shopreco.example.org",
                                          "widget_key": "wk_AbC-12_z", "spots": ["cart"]}


def test_an_invalid_connection_code_changes_nothing() -> None:
    before = connected(spots=["cart"])
    saved = save(before, {"url": "https://new.example.com", "widget_key": "wk_new",
                          "spots": ALL_SPOTS, "connection_code": "not a code"})
    assert saved["options"][SETTINGS] == before[SETTINGS]
    assert [e["code"] for e in saved["errors"]] == ["shopreco-code"]


def b64(payload: object, alphabet: str = "urlsafe", pad: bool = False) -> str:
    raw = json.dumps(payload).encode()
    encoded = (base64.urlsafe_b64encode(raw) if alphabet == "urlsafe"
               else base64.b64encode(raw)).decode()
    return encoded if pad else encoded.rstrip("=")


@pytest.mark.parametrize(("code", "parsed"), [
    (connection_code(URL, KEY), {"url": URL, "widget_key": KEY}),
    (b64({"url": URL + "/", "widget_key": KEY, "shop": "x"}, "standard", pad=True),
     {"url": URL, "widget_key": KEY}),
    ("\n".join(connection_code(URL, KEY)[i:i + 20] for i in range(0, 90, 20)),
     {"url": URL, "widget_key": KEY}),
    (b64({"url": "javascript:alert(1)", "widget_key": KEY}), None),
    (b64({"url": URL, "widget_key": 'wk_"x'}), None),
    (b64({"url": URL}), None),
    (b64([URL, KEY]), None),
    (b64({"url": ["x"], "widget_key": KEY}), None),
    ("%%%", None),
    ("", None),
])
def test_connection_codes(code: str, parsed: dict[str, str] | None) -> None:
    answer = run("call", "shopreco_parse_connection_code", code)
    assert json.loads(answer["html"] or "null") == parsed  # a null return prints nothing


def test_a_link_can_paste_the_code_but_only_saving_saves_it() -> None:
    code = connection_code(URL, KEY)
    page = settings_page(get={"shopreco_code": code})
    assert form_fields(page["html"])[f"{SETTINGS}[connection_code]"] is None  # a textarea
    assert f">{code}</textarea>" in page["html"]
    assert page["options"] == {}
    evil = settings_page(get={"shopreco_code": "</textarea><script>alert(1)</script>"})
    assert "<script>" not in evil["html"] and evil["html"].count("</textarea>") == 1


def test_options_php_refuses_a_bad_nonce_and_other_users() -> None:
    before = connected()
    form = {"url": "https://evil.example.com", "widget_key": "wk_evil"}
    forged = save(before, form, nonce="0123456789")
    assert forged["died"] == "The link you followed has expired."
    assert forged["options"] == before
    other = save(before, form, user=EDITOR, nonce=nonce(EDITOR))  # their own valid nonce
    assert other["died"] == "Sorry, you are not allowed to manage options for this site."
    assert other["options"] == before
    stolen = save(before, form, user=EDITOR)  # the admin's nonce
    assert stolen["died"] == "The link you followed has expired."
    assert save(before, form, nonce=nonce(ADMIN))["died"] is None


def test_the_sanitize_callback_keeps_its_own_output() -> None:
    """WordPress runs it twice when the option is first added."""
    clean = {"url": URL, "widget_key": KEY, "spots": ["home"]}
    answer = run("call", "shopreco_sanitize_settings", "", options=connected(), **ADMIN)
    assert json.loads(answer["html"]) == {"url": "", "widget_key": "", "spots": []}
    again = run("filter", f"sanitize_option_{SETTINGS}", json.dumps(clean), **ADMIN)
    assert json.loads(again["html"]) == clean and again["errors"] == []


def test_the_plugins_screen_links_to_the_settings() -> None:
    links = run("filter", "plugin_action_links_shopreco/shopreco.php",
                json.dumps(['<a href="deactivate">Deactivate</a>']), **ADMIN)
    assert json.loads(links["html"]) == [
        '<a href="http://shop.test/wp-admin/options-general.php?page=shopreco">Settings</a>',
        '<a href="deactivate">Deactivate</a>']


def test_uninstalling_deletes_the_settings_only() -> None:
    done = run("uninstall", options={**connected(), "blogname": "My shop"}, **ADMIN)
    assert done["options"] == {"blogname": "My shop"}
