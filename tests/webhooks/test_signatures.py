"""Shopify HMAC checks against the platforms' own published vectors."""

from __future__ import annotations

import json

import pytest

from plugin.config import Secret
from tests.helpers import SHARED_DATA
from webhooks.signatures import verify_base64_hmac

VECTORS = json.loads((SHARED_DATA / "webhooks" / "hmac_vectors.json").read_text())["vectors"]
SHOPIFY = [v for v in VECTORS if v["platform"] == "shopify"]


def vector_body(vector: dict) -> bytes:
    if "body_file" in vector:
        return (SHARED_DATA / "webhooks" / vector["body_file"]).read_bytes()
    return vector["body"].encode()


def test_every_shopify_vector_is_tested() -> None:
    assert len(SHOPIFY) >= 6
    assert any("body_file" in v for v in SHOPIFY)


@pytest.mark.parametrize("vector", SHOPIFY, ids=[v["id"] for v in SHOPIFY])
def test_shopify_vector_verifies(vector: dict) -> None:
    assert verify_base64_hmac([Secret(vector["secret"])], vector_body(vector), vector["expected"])


@pytest.mark.parametrize("vector", SHOPIFY, ids=[v["id"] for v in SHOPIFY])
def test_shopify_vector_with_one_changed_byte_fails(vector: dict) -> None:
    body = bytearray(vector_body(vector))
    body[len(body) // 2] ^= 0x01
    assert not verify_base64_hmac([Secret(vector["secret"])], bytes(body), vector["expected"])


@pytest.mark.parametrize("vector", SHOPIFY, ids=[v["id"] for v in SHOPIFY])
def test_shopify_vector_with_wrong_secret_fails(vector: dict) -> None:
    assert not verify_base64_hmac([Secret("not-" + vector["secret"])], vector_body(vector),
                                  vector["expected"])


def test_previous_secret_still_verifies_during_rotation() -> None:
    old = next(v for v in SHOPIFY if v["id"] == "shopify_app-rails-old-secret-rotation")
    secrets = [Secret("secret"), Secret("old_secret")]
    assert verify_base64_hmac(secrets, old["body"].encode(), old["expected"])


def test_missing_signature_fails() -> None:
    assert not verify_base64_hmac([Secret("secret")], b"{}", None)
    assert not verify_base64_hmac([Secret("secret")], b"{}", "")


def test_empty_secret_never_verifies() -> None:
    signature = "IvjuqQlACvmK3zaBqfMZI+9rf8ukq7VT2Sgjo+nVwl4="  # HMAC of {} with key ""
    assert not verify_base64_hmac([Secret("")], b"{}", signature)


def test_secret_is_not_in_repr() -> None:
    assert "hush" not in repr(Secret("hush")) and "hush" not in str(Secret("hush"))
