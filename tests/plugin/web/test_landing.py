"""The landing page after an install or a connect (plugin/web/landing.py): its steps, the
import's progress first, everything the caller gives escaped where it is text, the API key
shown only when given, and never cached."""

from __future__ import annotations

from plugin.web.landing import api_key_part, landing_page


def test_the_page_lists_the_import_first_then_the_steps() -> None:
    page = landing_page("Connected: <Shop>", "<p id='intro'>hi</p>",
                        ["second <em>step</em>", "third"], "/progress?shop=s&sig=x")
    body = page.body.decode()
    assert "<title>Connected: &lt;Shop&gt;</title>" in body
    assert "<h1>Connected: &lt;Shop&gt;</h1>" in body and "<p id='intro'>hi</p>" in body
    items = body[body.index("<ol>"):body.index("</ol>")].split("<li>")[1:]
    assert [item.split("</li>")[0].strip()[:13] for item in items] == [
        "Your order hi", "second <em>st", "third"]
    assert 'fetch("/progress?shop=s&sig=x")' in body and 'id="bar"' in body
    assert "api-key" not in body
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_api_key_is_shown_escaped_once_given() -> None:
    assert api_key_part(None) == ""
    part = api_key_part("sk_<1>", " (or make a new one)")
    assert "<code id='api-key'>sk_&lt;1&gt;</code>" in part
    assert "keep it somewhere safe (or make a new one):" in part
    body = landing_page("t", "", [], "/p", part).body.decode()
    assert body.count("id='api-key'") == 1
