"""The adapter of each platform, and its backfill source, by platform name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhooks import shopify
from webhooks.adapter import Adapter

if TYPE_CHECKING:
    from plugin.backfill import PageSource

ADAPTERS: dict[str, Adapter] = {
    adapter.platform: adapter
    for adapter in (shopify.ADAPTER,)
}

# platform -> async iterator of backfill pages (see plugin/backfill.py)
BACKFILL_SOURCES: dict[str, PageSource] = {}
