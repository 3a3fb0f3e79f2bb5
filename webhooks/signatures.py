"""Signature checks shared by the platform adapters: HMAC-SHA256 in constant time."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable

from plugin.config import Secret


def hmac_sha256_base64(secret: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.digest(secret, message, "sha256")).decode()


def verify_base64_hmac(secrets: Iterable[Secret], message: bytes, signature: str | None) -> bool:
    """True if `signature` is base64(HMAC-SHA256(secret, message)) for any of `secrets`.

    Several secrets are accepted so a secret rotation does not drop deliveries signed with
    the previous one. Every comparison runs in constant time.
    """
    if not signature:
        return False
    given = signature.strip().encode()
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac_sha256_base64(secret.reveal().encode(), message).encode()
        matched |= hmac.compare_digest(expected, given)
    return matched
