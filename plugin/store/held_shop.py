"""What the cache (plugin.store.cache) holds of one shop: its record, where it is in the
shop's change notes, and what serving read of it."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from plugin.store.pins import Held
from plugin.store.shops import Shop
from recommender.shop_model import ShopModel


@dataclass
class HeldShop:
    """What a process holds of one shop (plugin.store.cache)."""

    shop: Shop
    last_id: bytes  # the last change note read
    last_n: int
    epoch: int = 0  # new whenever a note dropped something: a read begun before is not kept
    catalog: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked: frozenset[str] | None = None
    pins: Held | None = None  # answers kept end with its first pin (`_end_pins`)
    histories: OrderedDict[str, dict[str, int]] = field(default_factory=OrderedDict)
    answers: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    customer_answers: dict[str, set[Hashable]] = field(default_factory=dict)
    model: tuple[str, ShopModel] | None = None
    model_epoch: int = 0  # +1 on an erasure: a model read before it is not installed
    model_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
