"""JSON answers of the hot paths (plugin/web/responses.py): what Starlette's JSONResponse would
send, numpy numbers included, in compact UTF-8."""

from __future__ import annotations

import json

import numpy as np
import pytest
from starlette.responses import JSONResponse

from plugin.web.responses import json_bytes

VALUES = [
    {"shop_id": "s", "model_version": None, "strategy": "als",
     "items": [{"product_id": "101", "score": 0.5, "because": ["1", "2"], "price": "10.00"}]},
    {"title": "Crème brûlée ☕", "nested": {"a": [1, 2.25, True, None]}},
    [], {}, "text", 12345678901234567890, -0.0,
]


@pytest.mark.parametrize("value", VALUES)
def test_the_bytes_are_what_jsonresponse_sends(value: object) -> None:
    assert json_bytes(value) == JSONResponse(value).body
    assert json.loads(json_bytes(value)) == value


def test_text_is_utf8_not_escaped() -> None:
    assert json_bytes({"t": "é☕"}) == '{"t":"é☕"}'.encode()


def test_numpy_numbers_are_the_numbers_they_hold() -> None:
    value = {"score": np.float32(0.25), "count": np.int64(7), "scores": np.array([1.5, 2.0]),
             "ids": np.array([3, 4], dtype=np.int32)}
    assert json.loads(json_bytes(value)) == {"score": 0.25, "count": 7, "scores": [1.5, 2.0],
                                             "ids": [3, 4]}
    assert json_bytes(np.float64(0.1)) == json.dumps(0.1).encode()


def test_keys_that_are_not_text_become_text() -> None:
    assert json.loads(json_bytes({1: "a", 2.5: "b"})) == {"1": "a", "2.5": "b"}
