"""The URL rule: absolute http(s) with a host, well formed, kept unchanged; anything else None.
BAD_URLS and GOOD_URLS are also served through the API, widget and feed tests."""

from __future__ import annotations

import pytest

from plugin.store.urls import MAX_URL_CHARS, safe_http_url

BAD_URLS: dict[str, object] = {
    "javascript": "javascript:alert(document.cookie)",
    "javascript-mixed-case": "JaVaScRiPt:alert(1)",
    "data-svg": "data:image/svg+xml,<svg onload=alert(1)>",
    "data-png": "data:image/png;base64,iVBORw0KGgo=",
    "protocol-relative": "//evil.example/i.jpg",
    "relative": "/products/mug",
    "handle-breaks-attribute": 'https://shop.example/products/x"><script>alert(1)</script>',
    "single-quote": "https://shop.example/p/x'onerror='alert(1)",
    "angle-bracket": "https://shop.example/p/<x>",
    "space": "https://shop.example/p/a b",
    "leading-space": " https://shop.example/p/a",
    "newline": "https://shop.example/p/a\nSet-Cookie: x=1",
    "tab": "https://shop.example/p/\ta",
    "nul": "https://shop.example/p/\x00",
    "bidi-override": "https://shop.example/p/\u202egpj.exe",
    "zero-width-space": "https://shop.example/\u200bp",
    "backslash-host": "https://evil.example\\@shop.example/",
    "user-info": "https://shop.example@evil.example/p",
    "no-host": "https:shop.example/p",
    "empty-host": "https:///p",
    "port-only": "http://:80/p",
    "port-out-of-range": "https://shop.example:99999/p",
    "port-not-a-number": "https://shop.example:http/p",
    "port-zero": "https://shop.example:0/p",
    "unclosed-ipv6": "http://[::1/p",
    "ftp": "ftp://files.example/p.jpg",
    "vbscript": "vbscript:msgbox(1)",
    "empty": "",
    "too-long": "https://shop.example/" + "a" * MAX_URL_CHARS,
    "number": 42,
    "object": {"src": "https://shop.example/p.jpg"},
}

GOOD_URLS: dict[str, str] = {
    "https": "https://cdn.example.com/files/1/mug.jpg?v=1712&width=600",
    "http": "http://shop.example/products/mug",
    "port-and-fragment": "https://shop.example:8443/p/%22quoted%22#reviews",
    "upper-case-scheme": "HTTPS://Shop.Example/products/mug",
    "ipv6": "http://[2001:db8::1]:8080/p",
    "international": "https://bücher.example/produkte/käse",
}


@pytest.mark.parametrize("value", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_url_is_none(value: object) -> None:
    assert safe_http_url(value) is None


@pytest.mark.parametrize("value", GOOD_URLS.values(), ids=GOOD_URLS.keys())
def test_good_url_is_kept_unchanged(value: str) -> None:
    assert safe_http_url(value) == value


def test_longest_url_is_kept() -> None:
    value = "https://shop.example/"
    value += "a" * (MAX_URL_CHARS - len(value))
    assert safe_http_url(value) == value
