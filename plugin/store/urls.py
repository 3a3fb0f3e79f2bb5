"""The one rule for a URL that shopreco hands out (API items, widget items, nurture feeds,
e-mail blocks): an absolute http or https URL with a host, well formed, or nothing.

Stored catalog entries keep `url` and `image_url` as the platforms sent them, so what a browser
would run (`javascript:`, `data:image/svg+xml`), follow elsewhere (`//evil.example/i.jpg`,
`https://shop.example@evil.example/`) or let break out of an HTML attribute
(`https://shop/products/x"><script>`) is checked here, on the way out.

Refused, not repaired: a URL that holds whitespace, control or invisible formatting characters,
quotes, angle brackets or another character RFC 3986 allows only percent-encoded did not come
from a working storefront, and encoding it would hide that rather than fix it. Non-ASCII
letters (an internationalised path or host) stay: browsers encode them themselves.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048  # what browsers, CDNs and e-mail clients all accept
SCHEMES = frozenset({"http", "https"})
# Never raw in a well-formed URL (RFC 3986 section 2; the "unsafe" set of RFC 1738) and each a
# way out of an HTML attribute, a srcset, a CSS url() or a header. Other whitespace and
# control or formatting characters (a bidi override, a zero-width space) fail isprintable().
_UNSAFE = frozenset(" \"'<>\\`{}|^")


def safe_http_url(value: object) -> str | None:
    """`value` unchanged if it is an absolute http(s) URL with a host, a valid port, no user
    name or password and none of the unsafe characters above; otherwise None."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_CHARS:
        return None
    return _checked(value)


@functools.lru_cache(maxsize=4096)  # every answer renders the same catalog's URLs again
def _checked(value: str) -> str | None:
    if not value.isprintable() or not _UNSAFE.isdisjoint(value):
        return None
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0  # ValueError: not a number to 65535
    except ValueError:  # also an unclosed IPv6 bracket
        return None
    if parts.scheme not in SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    return value if port_ok else None
