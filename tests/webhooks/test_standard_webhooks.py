"""Standard Webhooks: the reference library's vector, then one failure per test."""

from __future__ import annotations

import pytest

from plugin.config import Secret
from tests.webhooks.test_signatures import VECTORS
from webhooks.standard_webhooks import sign, signing_key, verify

VECTOR = next(v for v in VECTORS if v["platform"] == "bigcommerce")
BODY = VECTOR["body"].encode()


def headers(signature: str = VECTOR["expected"], stamp: int = VECTOR["timestamp"],
            msg_id: str = VECTOR["msg_id"]) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_reference_vector_signs_to_the_published_value() -> None:
    assert sign(VECTOR["secret"], VECTOR["msg_id"], VECTOR["timestamp"], BODY) == \
        VECTOR["expected"]


def test_reference_vector_verifies_within_the_time_window() -> None:
    assert verify([Secret(VECTOR["secret"])], headers(), BODY, now=VECTOR["timestamp"] + 10)


def test_stale_delivery_is_refused() -> None:
    assert not verify([Secret(VECTOR["secret"])], headers(), BODY,
                      now=VECTOR["timestamp"] + 301)


def test_changed_body_is_refused() -> None:
    assert not verify([Secret(VECTOR["secret"])], headers(), BODY + b" ",
                      now=VECTOR["timestamp"])


def test_changed_message_id_is_refused() -> None:
    assert not verify([Secret(VECTOR["secret"])], headers(msg_id="msg_other"), BODY,
                      now=VECTOR["timestamp"])


def test_one_matching_signature_among_several_is_enough() -> None:
    both = "v1,Zm9v " + VECTOR["expected"]
    assert verify([Secret(VECTOR["secret"])], headers(both), BODY, now=VECTOR["timestamp"])


def test_previous_secret_still_verifies_during_rotation() -> None:
    secrets = [Secret("whsec_" + "QUJD" * 8), Secret(VECTOR["secret"])]
    assert verify(secrets, headers(), BODY, now=VECTOR["timestamp"])


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_refused(missing: str) -> None:
    given = headers()
    del given[missing]
    assert not verify([Secret(VECTOR["secret"])], given, BODY, now=VECTOR["timestamp"])


def test_empty_secret_never_verifies() -> None:
    signature = sign("", VECTOR["msg_id"], VECTOR["timestamp"], BODY)
    assert not verify([Secret("")], headers(signature), BODY, now=VECTOR["timestamp"])


def test_plain_client_secret_is_used_as_its_bytes() -> None:
    assert signing_key("my-client-secret") == b"my-client-secret"
