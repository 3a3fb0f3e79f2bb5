"""The adapter of each platform, and its backfill source, by platform name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhooks import bigcommerce, custom, ecwid, shopify, woocommerce
from webhooks.adapter import PlatformAdapter

if TYPE_CHECKING:
    from webhooks.backfill import PageSource

ADAPTERS: dict[str, PlatformAdapter] = {
    adapter.platform: adapter
    for adapter in (shopify.ADAPTER, ecwid.ADAPTER, bigcommerce.ADAPTER, woocommerce.ADAPTER,
                    custom.ADAPTER)
}

# platform -> async iterator of backfill pages (see webhooks/backfill.py)
BACKFILL_SOURCES: dict[str, PageSource] = {
    shopify.PLATFORM: shopify.backfill_pages,
    ecwid.PLATFORM: ecwid.backfill_pages,
    bigcommerce.PLATFORM: bigcommerce.backfill_pages,
    woocommerce.PLATFORM: woocommerce.backfill_pages,
}
