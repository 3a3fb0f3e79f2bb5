"""The interface every platform adapter implements, and what the worker hands it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from plugin.store.shops import Shop
from webhooks.http import PlatformHttp


@dataclass(frozen=True)
class Delivery:
    """What the receiver needs to know of a delivery before storing it."""

    topic: str  # the platform's event name, e.g. orders/create, order.created
    delivery_id: str  # the platform's dedupe key for this delivery
    triggered_at: str = ""
    api_version: str = ""


@dataclass(frozen=True)
class Context:
    """What an adapter may use while applying an event in the worker."""

    redis: aioredis.Redis
    shop: Shop
    http: PlatformHttp


class Adapter(Protocol):
    """One platform: find the shop, verify, describe the delivery, check, and apply it.

    The receiver calls find_shop, is_ping, verify, describe and check (in that order; all
    fast, nothing fetched); the worker calls apply, which may fetch from the platform API.
    """

    platform: str

    async def find_shop(
        self, redis: aioredis.Redis, path_shop_id: str | None, headers: Mapping[str, str],
        body: bytes,
    ) -> Shop | None: ...

    def shop_hint(
        self, path_shop_id: str | None, headers: Mapping[str, str], body: bytes
    ) -> str:
        """How this delivery names its shop, for the 404 message (e.g. "domain 'x'")."""
        ...

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool: ...

    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool: ...

    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery: ...

    def check(self, topic: str, payload: Any) -> None: ...

    async def apply(self, context: Context, topic: str, payload: Any) -> None: ...
