"""A fixed blend: a trained model served with other blend weights (an experiment's "config"
arm), without fitting anything again.

The weights of a Config that only decide how a trained model's signals mix (BLEND_FIELDS:
the personal list's, discovery's and the cart's weights, and whether buy-again weighs by
rebuy rate or by the learned repeats) apply when a list is scored, so a model serves another
blend through a shallow copy with `config` replaced: the arrays are shared, no second model.
What a config fits (the taste model, the neighbours, the trending half-life, customer
neighbours) is not in a blend: it stays the trained model's.

A blend is fixed: `blend_weights` fills every field it does not name with the Config default
(the weights chosen on UCI Online Retail), never with the shop's tuned ones, so an arm
serves the same blend whatever the next training chooses.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from recommender.config import Config
from recommender.shop_model import ShopModel

WEIGHTS = ("nurture_own", "nurture_taste", "nurture_customers", "nurture_trending",
           "discovery_taste", "discovery_neighbours", "discovery_customers",
           "discovery_trending", "cart_neighbours", "cart_trending")
SWITCHES = ("rebuy_weighting", "repeat_model")
BLEND_FIELDS = WEIGHTS + SWITCHES
MAX_WEIGHT = 100.0
CUSTOMER_WEIGHTS = ("nurture_customers", "discovery_customers")
Blend = Mapping[str, float | bool]


class BlendError(ValueError):
    """Not a blend; the message says why."""


def blend_weights(raw: Mapping[str, Any]) -> dict[str, float | bool]:
    """Every blend field: those `raw` names (weights 0 to MAX_WEIGHT, switches true or
    false), the Config defaults for the rest. Refuses other fields and blends that weigh
    nothing for a task."""
    unknown = sorted(set(raw) - set(BLEND_FIELDS))
    if unknown:
        raise BlendError(f"a blend sets only {', '.join(BLEND_FIELDS)}; not {', '.join(unknown)}")
    defaults = Config()
    found: dict[str, float | bool] = {}
    for name in WEIGHTS:
        value = raw.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or not 0 <= value <= MAX_WEIGHT:
            raise BlendError(f"{name} is a weight from 0 to {MAX_WEIGHT:g}, got {value!r}")
        found[name] = float(value)
    for name in SWITCHES:
        value = raw.get(name, getattr(defaults, name))
        if not isinstance(value, bool):
            raise BlendError(f"{name} is true or false, got {value!r}")
        found[name] = value
    for task in ("nurture", "discovery", "cart"):
        if not any(found[name] for name in WEIGHTS if name.startswith(task)):
            raise BlendError(f"a blend weighs at least one signal of each task; every "
                             f"{task}_* weight is 0")
    return found


def blend_from_text(raw: str) -> dict[str, float | bool]:
    """The fields a "name=value, name=value" text sets (the CLI's and the dashboard's way to
    write a blend): numbers, or true / false for the switches; unchecked (blend_weights)."""
    found: dict[str, float | bool] = {}
    for part in (p.strip() for p in raw.replace("\n", ",").split(",")):
        if not part:
            continue
        name, equals, value = (s.strip() for s in part.partition("="))
        if not equals or not name or name in found:
            raise BlendError(f"a blend is written name=value, name=value (each name once); "
                             f"got {part!r}")
        if value.lower() in ("true", "false"):
            found[name] = value.lower() == "true"
            continue
        try:
            found[name] = float(value)
        except ValueError:
            raise BlendError(f"{name}={value!r}: a blend's value is a number, true or "
                             "false") from None
    return found


def blend_summary(blend: Blend) -> str:
    """A blend as blend_from_text reads it, only the fields apart from the defaults ("the
    default blend" when none is)."""
    defaults = Config()
    apart = [f"{name}={str(value).lower() if isinstance(value, bool) else f'{value:g}'}"
             for name, value in sorted(blend.items()) if value != getattr(defaults, name)]
    return ", ".join(apart) or "the default blend"


def with_blend(model: ShopModel, blend: Blend) -> ShopModel:
    """`model` serving `blend` (blend_weights checked it): its arrays shared, its config's
    blend replaced and no task falling back to a baseline. Customer neighbours the model did
    not fit weigh nothing."""
    weights = dict(blend)
    if model.next_basket.customers is None:
        weights.update(dict.fromkeys(CUSTOMER_WEIGHTS, 0.0))
    blended = copy.copy(model)
    blended.config = replace(model.config, nurture_fallback="", discovery_fallback="",
                             cart_fallback="", **weights)  # type: ignore[arg-type]
    return blended
