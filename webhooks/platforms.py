"""The adapter of each platform, by name."""

from __future__ import annotations

from webhooks import shopify
from webhooks.adapter import Adapter

ADAPTERS: dict[str, Adapter] = {
    adapter.platform: adapter
    for adapter in (shopify.ADAPTER,)
}
