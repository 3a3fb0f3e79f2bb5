"""Serving: a query run on the shop's serving model with its merchandising filter, the owner's
pinned products put first, answered with the catalog's display fields."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, TypeVar

from plugin.engine.queries import Query, run_all
from plugin.store.cache import ShopCache
from plugin.store.pins import Pin, shown_for
from plugin.store.urls import safe_http_url
from recommender.shop_model import Answer, Recommendation, ShopModel

T = TypeVar("T")
PINNED = "pinned"  # the reason of an owner's pinned product
# Products of a model up to which a query runs on the event loop (scoring them all takes well
# under a millisecond); larger models are scored in a worker thread.
INLINE_ITEMS = 50_000


async def render_items(
    cache: ShopCache, shop_id: str, currency: str, answer: Answer
) -> list[dict[str, Any]]:
    """API items: id, score, reason, `because` where known, and the catalog's display fields;
    `url` and `image_url` only as absolute http(s) URLs (plugin.store.urls), else None."""
    if not answer.items:
        return []
    products = await cache.products(shop_id, [r.product_id for r in answer.items])
    items = []
    for rec, product in zip(answer.items, products, strict=True):
        item: dict[str, Any] = {
            "product_id": rec.product_id,
            "score": round(rec.score, 6),
            "reason": rec.reason,
        }
        if rec.because:
            item["because"] = list(rec.because)
        item.update(
            title=product.get("title"),
            price=product.get("price"),
            currency=currency,
            url=safe_http_url(product.get("url")),
            image_url=safe_http_url(product.get("image_url")),
        )
        if product.get("variant_id"):
            item["variant_id"] = product["variant_id"]
        items.append(item)
    return items


@dataclass(frozen=True)
class Served:
    """A rendered answer and the query it answers (to make it again: refresh_ahead)."""

    model_version: str | None
    strategy: str
    items: list[dict[str, Any]]
    query: Query | None = field(default=None, compare=False, repr=False)


async def serve_query(cache: ShopCache, shop_id: str, currency: str, query: Query) -> Served:
    """Run `query` on the shop's serving model with its merchandising filter; display fields
    from the catalog, the owner's pins first (`pinned`). No model yet: an empty answer with
    strategy "none". The answer is kept in the process's cache until a change note names what
    it was made of (Query.key) or a pin it holds ends. A query that can answer without a model
    (`without_model(blocked)`: a visitor's recently viewed products) does so before the first."""
    async def make() -> Served:
        serving = await _model_and_filter(cache, shop_id)
        if serving is None:
            alone = getattr(query, "without_model", None)
            if alone is None:
                return Served(None, "none", [])
            answer: Answer = alone(await cache.blocked(shop_id))
            return Served(None, answer.strategy,
                          await render_items(cache, shop_id, currency, answer), query)
        version, model, blocked, pins = serving
        answer = await _group_run(cache).run(model, blocked, pins, query)
        return Served(version, answer.strategy,
                      await render_items(cache, shop_id, currency, answer), query)

    return await kept(cache, shop_id, query.key, query.customer, make)


async def kept(
    cache: ShopCache, shop_id: str, key: Hashable, customer_id: str | None,
    make: Callable[[], Awaitable[T]],
) -> T:
    """`make()`'s value, kept in this process under `key` until a change note names what it was
    made of: the model, the catalog, the never-shown products or, with `customer_id`, that
    customer's history (plugin.store.cache). `key` must name every input of `make`."""
    found: T | None = cache.answer(shop_id, key)
    if found is not None:
        return found
    epoch = cache.epoch(shop_id)
    value = await make()
    cache.keep_answer(shop_id, key, customer_id, value, epoch)
    return value


async def serve_many(
    cache: ShopCache, shop_id: str, currency: str, queries: Sequence[Query]
) -> tuple[str | None, list[list[dict[str, Any]]]]:
    """Several queries on one serving model and one merchandising filter (a page of a feed):
    the model version and each query's items (the owner's pins first), in order. An answer
    this process keeps for a query (serve_query's, under the same key) is used as it is; the
    others are run together and kept the same way."""
    if not queries:
        return await _fresh_many(cache, shop_id, currency, queries)
    found: list[Served | None] = [cache.answer(shop_id, q.key) for q in queries]
    missing = [i for i, served in enumerate(found) if served is None]
    if missing:
        epoch = cache.epoch(shop_id)
        serving = await _model_and_filter(cache, shop_id)
        if serving is None:
            return None, [[] for _ in queries]
        version, model, blocked, pins = serving
        asked = [queries[i] for i in missing]
        answers = await _run(model, lambda: run_pinned(model, blocked, pins, asked), len(asked))
        for i, query, answer in zip(missing, asked, answers, strict=True):
            made = Served(version, answer.strategy,
                          await render_items(cache, shop_id, currency, answer), query)
            cache.keep_answer(shop_id, query.key, query.customer, made, epoch)
            found[i] = made
    served = [s for s in found if s is not None]
    versions = {s.model_version for s in served}
    if len(versions) > 1:  # kept answers of an older model beside new ones: all of this one
        return await _fresh_many(cache, shop_id, currency, queries)
    return (served[0].model_version if served else None), [s.items for s in served]


async def _fresh_many(
    cache: ShopCache, shop_id: str, currency: str, queries: Sequence[Query]
) -> tuple[str | None, list[list[dict[str, Any]]]]:
    serving = await _model_and_filter(cache, shop_id)
    if serving is None:
        return None, [[] for _ in queries]
    version, model, blocked, pins = serving
    answers = await _run(model, lambda: run_pinned(model, blocked, pins, queries), len(queries))
    return version, [await render_items(cache, shop_id, currency, a) for a in answers]


async def _model_and_filter(
    cache: ShopCache, shop_id: str
) -> tuple[str, ShopModel, AbstractSet[str], Sequence[Pin]] | None:
    """The serving model's version, the model, the products never to show and the pins in
    force; None before the shop's first model."""
    served = await cache.model(shop_id)
    if served is None:
        return None
    return served[0], served[1], await cache.blocked(shop_id), await cache.pins(shop_id)


def run_pinned(model: ShopModel, blocked: AbstractSet[str], pins: Sequence[Pin],
               queries: Sequence[Query]) -> list[Answer]:
    """Each query run on `model` (personal lists scored together: run_all), pins first."""
    return [pinned(query, answer, model, blocked, pins)
            for query, answer in zip(queries, run_all(model, blocked, queries), strict=True)]


class GroupRun:
    """The queries of concurrent requests run on their model together, as GroupRead reads
    their histories together: the first query asked for schedules a run for the next turn of
    the event loop, every query asked for in this turn joins it, and the run answers those on
    one model and filter at once (run_pinned). A burst of first calls (a fresh process, or
    right after many customers' orders came in) is then scored in one go: one fold-in solve,
    one blend and one sort for all their personal lists (a customer in a batch of 32 costs
    about a third less than alone; under a closed-loop load the batches stay small, 1-4).
    An error reaches every caller of its batch."""

    def __init__(self) -> None:
        self._waiting: list[tuple[ShopModel, AbstractSet[str], Sequence[Pin], Query,
                                  asyncio.Future[Answer]]] = []
        self._runs: set[asyncio.Task[None]] = set()

    async def run(self, model: ShopModel, blocked: AbstractSet[str], pins: Sequence[Pin],
                  query: Query) -> Answer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((model, blocked, pins, query, future))
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        groups: list[tuple[ShopModel, AbstractSet[str], Sequence[Pin],
                           list[tuple[Query, asyncio.Future[Answer]]]]] = []
        for model, blocked, pins, query, future in batch:
            if future.done():  # its request was cancelled
                continue
            group = next((g for g in groups if g[0] is model and g[1] is blocked
                          and g[2] is pins), None)
            if group is None:
                group = (model, blocked, pins, [])
                groups.append(group)
            group[3].append((query, future))
        for model, blocked, pins, asked in groups:
            if len(model.item_ids) * len(asked) > INLINE_ITEMS:  # in a thread, so the loop
                task = asyncio.ensure_future(  # serves other requests meanwhile
                    self._in_thread(model, blocked, pins, asked))
                self._runs.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._runs.discard)
                continue
            try:
                answers = run_pinned(model, blocked, pins, [query for query, _ in asked])
            except Exception as error:
                _settle(asked, error)
            else:
                _settle(asked, answers)

    async def _in_thread(self, model: ShopModel, blocked: AbstractSet[str],
                         pins: Sequence[Pin],
                         asked: list[tuple[Query, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await asyncio.to_thread(run_pinned, model, blocked, pins,
                                              [query for query, _ in asked])
        except Exception as error:
            _settle(asked, error)
        except BaseException:  # cancelled: the loop is closing
            for _, future in asked:
                future.cancel()
            raise
        else:
            _settle(asked, answers)


def _settle(asked: list[tuple[Query, asyncio.Future[Answer]]],
            answers: list[Answer] | Exception) -> None:
    """Each future of `asked` (still waited for) its answer, or the error of the batch."""
    for at, (_, future) in enumerate(asked):
        if future.done():  # its request was cancelled
            continue
        if isinstance(answers, Exception):
            future.set_exception(answers)
        else:
            future.set_result(answers[at])


_group_runs: weakref.WeakKeyDictionary[ShopCache, GroupRun] = weakref.WeakKeyDictionary()


def _group_run(cache: ShopCache) -> GroupRun:
    """The group run of this process's shop cache (a cache lives in one event loop)."""
    group = _group_runs.get(cache)
    if group is None:
        group = _group_runs[cache] = GroupRun()
    return group


def pinned(query: Query, answer: Answer, model: ShopModel, blocked: AbstractSet[str],
           pins: Sequence[Pin]) -> Answer:
    """`answer` with the pins the query shows first (plugin.store.pins `shown_for` its
    anchors; none where `kept_out` is None), each left out if blocked, an anchor, kept out of
    this answer or already placed; reason "pinned", the answer's best score (1.0 for an empty
    one), `because` the product it is pinned for. The model's items follow, without the
    pinned ones, cut to the query's limit."""
    if not pins:
        return answer
    kept_out = query.kept_out(model)
    if kept_out is None:
        return answer
    anchors = query.anchors
    score = max((rec.score for rec in answer.items), default=1.0)
    placed: dict[str, Recommendation] = {}
    for pin in shown_for(pins, anchors):
        product = pin.product_id
        if product in placed or product in blocked or product in anchors or product in kept_out:
            continue
        because = () if pin.for_product_id is None else (pin.for_product_id,)
        placed[product] = Recommendation(product, score, PINNED, because)
    if not placed:
        return answer
    rest = [rec for rec in answer.items if rec.product_id not in placed]
    return Answer(answer.strategy, [*placed.values(), *rest][:query.limit])


async def _run(model: ShopModel, work: Callable[[], T], queries: int = 1) -> T:
    """Run `work` here when it is quick (most shops: a few hundred microseconds at most), in a
    thread when the model is large enough that scoring every product would hold up the other
    requests of this process."""
    if len(model.item_ids) * queries <= INLINE_ITEMS:
        return work()
    return await asyncio.to_thread(work)
