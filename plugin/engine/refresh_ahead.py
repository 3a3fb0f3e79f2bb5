"""Refresh-ahead: the answers a customer's change dropped are made again in the background.

A customer's order (a refund, an erasure of one of their orders: any change of their history)
drops every answer this process keeps for them (plugin.store.cache), so their next call is
computed from scratch. After a burst of orders (a sale, an import, a flood of webhooks) that
is every recently active customer at once, and the first calls after it queue behind each
other. RefreshAhead takes the queries of the dropped answers, waits until the customer has
been quiet for QUIET_SECONDS (a burst of changes is made again once, after it), reads their
histories as of now and runs the queries through serving.serve_many, BATCH at a time (their
personal lists scored together: one fold-in solve and one sort a batch; the requests that
arrived meanwhile go between batches), keeping the answers as a request would.

Nothing stale is served: until the new answer is kept a call computes its own, and an answer
made while another change arrives is not kept (the cache's epoch). Only answers that were in
use are made again, each once per quiet spell; at most MAX_PENDING queries wait (the oldest
give way).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import fields, is_dataclass, replace
from itertools import islice
from typing import Any

from plugin.engine.queries import Query
from plugin.engine.serving import Served, serve_many
from plugin.store.cache import ShopCache

QUIET_SECONDS = 1.0
BATCH = 16  # queries run at once: ~3 ms on the event loop, then the waiting requests go
MAX_PENDING = 20_000


class RefreshAhead:
    """Makes again, in the background, the answers `cache` drops for a customer's change."""

    def __init__(self, cache: ShopCache, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.cache = cache
        self.quiet_seconds = quiet_seconds
        # (shop id, query key) -> (when it is due, the query), in the order they fall due
        self._pending: OrderedDict[tuple[str, Hashable], tuple[float, Query]] = OrderedDict()
        self._running = False
        self.made = 0  # queries made again so far

    def attach(self) -> RefreshAhead:
        """Take the answers `cache` drops from now on."""
        self.cache.on_dropped = self.dropped
        return self

    def dropped(self, shop_id: str, values: Sequence[Any]) -> None:
        """Answers of a customer whose history changed: make their queries again once the
        customer has been quiet for `quiet_seconds` (a later change puts them off again)."""
        due = time.monotonic() + self.quiet_seconds
        for value in values:
            query = value.query if isinstance(value, Served) else None
            if query is None:
                continue
            self._pending.pop((shop_id, query.key), None)  # to the end: due last
            self._pending[(shop_id, query.key)] = (due, query)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        if self._pending and not self._running:
            self._running = True
            self.cache.spawn(self._run())

    async def _run(self) -> None:
        try:
            while self._pending:
                wait = next(iter(self._pending.values()))[0] - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                now, batch = time.monotonic(), dict[str, list[Query]]()
                for key, (due, query) in list(islice(self._pending.items(), BATCH)):
                    if due > now:
                        break
                    del self._pending[key]
                    batch.setdefault(key[0], []).append(query)
                for shop_id, queries in batch.items():
                    await self._make(shop_id, queries)
                await asyncio.sleep(0)  # the requests waiting meanwhile go first
        finally:
            self._running = False

    async def _make(self, shop_id: str, queries: list[Query]) -> None:
        shop = await self.cache.shop(shop_id)
        if shop is None:
            return
        histories = await self.cache.histories(shop_id, [q.customer or "" for q in queries])
        now = [_with_history(query, history)
               for query, history in zip(queries, histories, strict=True)]
        await serve_many(self.cache, shop_id, shop.currency, now)
        self.made += len(now)


def _with_history(query: Query, history: Any) -> Query:
    """The query with the customer's history as of now (queries that hold one)."""
    if is_dataclass(query) and any(f.name == "history" for f in fields(query)):
        updated: Query = replace(query, history=history)
        return updated
    return query
