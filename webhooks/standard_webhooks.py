"""Standard Webhooks signatures (https://www.standardwebhooks.com), used by BigCommerce and the
custom platform: `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from plugin.config import Secret

TOLERANCE_SECONDS = 5 * 60  # a delivery older or newer than this is a replay, refused


def signing_key(secret: str) -> bytes:
    """`whsec_<base64>` secrets are decoded; any other secret (BigCommerce's client secret) is
    used as its bytes, as the platform signs with it."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for a delivery, as a sender computes it."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secrets: Iterable[Secret], headers: Mapping[str, str], body: bytes, now: float | None = None
) -> bool:
    """True if the delivery is fresh and one of its v1 signatures matches one of `secrets`."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    given = (headers.get("webhook-signature") or "").split()
    if not msg_id or not stamp.isdigit() or not given:
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > TOLERANCE_SECONDS:
        return False
    matched = False
    for secret in secrets:
        if not secret:
            continue
        try:
            expected = sign(secret.reveal(), msg_id, int(stamp), body).encode()
        except ValueError:
            continue
        for candidate in given:
            matched |= hmac.compare_digest(expected, candidate.encode())
    return matched
