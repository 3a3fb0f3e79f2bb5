"""Experiments at serving time and over their life: which arm a request or an event batch
belongs to (counting the exposure), and stopping (results frozen) and shipping.

A request's unit: the customer's pinned unit when it names a customer pinned in the
experiment; else its visitor ("v:<id>"), pinning the customer it names to it (carry-over to
sign-in); else a customer alone ("c:<digest>", pinned to themselves). A request with neither
is in no experiment (answered as without one, and not counted).

Each process remembers the units it exposed and the pins it read (they never change), so a
visitor's later requests cost no Redis round trip.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.engine.experiment_results import experiment_results
from plugin.store import experiment_data as data
from plugin.store import experiments as store
from plugin.store.cache import ShopCache
from plugin.store.experiments import Arm, Experiment, UnknownExperiment, arm_for
from plugin.store.shops import Shop

MEMO_SIZE = 100_000  # units and pins remembered per process


@dataclass(frozen=True)
class Assignment:
    """The experiment and arm a request is in, and the unit that counts."""

    experiment: Experiment
    arm: Arm
    unit: str

    @property
    def key(self) -> Hashable:
        """Names the arm in an answer's cache key: an arm's answer never reaches another."""
        return (self.experiment.experiment_id, self.arm.name, self.arm.serves)

    def fields(self) -> dict[str, str]:
        """What an answer in the experiment says of it."""
        return {"experiment": self.experiment.experiment_id, "arm": self.arm.name}


class _Memo:
    """Bounded memory of exposed units and read pins ((shop, experiment, id) -> unit)."""

    def __init__(self) -> None:
        self.exposed: OrderedDict[tuple[str, str, str], bool] = OrderedDict()
        self.pins: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    @staticmethod
    def remember(held: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        held[key] = value
        held.move_to_end(key)
        while len(held) > MEMO_SIZE:
            held.popitem(last=False)


_memos: weakref.WeakKeyDictionary[ShopCache, _Memo] = weakref.WeakKeyDictionary()


def _memo(cache: ShopCache) -> _Memo:
    memo = _memos.get(cache)
    if memo is None:
        memo = _memos[cache] = _Memo()
    return memo


def running_for(shop: Shop, placement: str) -> Experiment | None:
    """The running experiment covering `placement` (at most one does)."""
    return next((e for e in shop.experiments if e.covers(placement)), None)


async def _pinned(cache: ShopCache, shop_id: str, experiment: Experiment,
                  customer_id: str) -> str | None:
    memo = _memo(cache)
    key = (shop_id, experiment.experiment_id, customer_id)
    unit = memo.pins.get(key)
    if unit is None:
        unit = await data.pinned_unit(cache.redis, shop_id, experiment.experiment_id,
                                      customer_id)
        if unit is not None:
            memo.remember(memo.pins, key, unit)
    return unit


async def assign(cache: ShopCache, shop: Shop, placement: str, visitor_id: str | None,
                 customer_id: str | None, now: float | None = None) -> Assignment | None:
    """The arm of this request if a running experiment covers `placement`, its unit counted
    as exposed (once) and the customer pinned (once); None if none runs or the request names
    no one."""
    experiment = running_for(shop, placement)
    if experiment is None:
        return None
    unit = None if customer_id is None else \
        await _pinned(cache, shop.shop_id, experiment, customer_id)
    pin = None
    if unit is None:
        if visitor_id is not None:
            unit, pin = store.visitor_unit(visitor_id), customer_id
        elif customer_id is not None:
            unit, pin = store.customer_unit(customer_id), customer_id
        else:
            return None
    memo = _memo(cache)
    if pin is not None or (shop.shop_id, experiment.experiment_id, unit) not in memo.exposed:
        unit = await data.expose(cache.redis, shop.shop_id, experiment, unit, pin,
                                 time.time() if now is None else now)
        memo.remember(memo.exposed, (shop.shop_id, experiment.experiment_id, unit), True)
        if pin is not None:
            memo.remember(memo.pins, (shop.shop_id, experiment.experiment_id, pin), unit)
    return Assignment(experiment, arm_for(experiment, unit), unit)


async def _pin(cache: ShopCache, shop_id: str, experiment: Experiment, customer_id: str,
               unit: str) -> str:
    """The customer's pinned unit, pinned to `unit` if they had none (carry-over)."""
    memo = _memo(cache)
    key = (shop_id, experiment.experiment_id, customer_id)
    pinned = memo.pins.get(key)
    if pinned is None:
        pinned = await data.pin_customer(cache.redis, shop_id, experiment.experiment_id,
                                         customer_id, unit)
        memo.remember(memo.pins, key, pinned)
    return pinned


@dataclass(frozen=True)
class Tagged:
    """A widget event that names the experiment and arm its answer was in."""

    experiment_id: str
    arm: str  # as the event claims it
    placement: str
    event: data.Counted


async def count_batch(cache: ShopCache, shop: Shop, visitor_id: str, customer_id: str | None,
                      tagged: Sequence[Tagged]) -> int:
    """Count an event batch for the running experiments; how many events counted.

    A batch naming a customer pins them to its visitor in every running experiment they are
    not pinned in yet (carry-over: their orders count for the visitor's arm). Each event
    counts for the customer's pinned unit when the arm it claims is that unit's (a page
    served for the customer), else for the visitor's unit, in that unit's real arm whatever
    arm it claims; only for a running experiment covering its placement, only once the unit
    was exposed."""
    own = store.visitor_unit(visitor_id)
    pinned = {}
    if customer_id is not None:
        for one in shop.experiments:
            pinned[one.experiment_id] = await _pin(cache, shop.shop_id, one, customer_id, own)
    groups: dict[tuple[str, str], tuple[Experiment, list[data.Counted]]] = {}
    for item in tagged:
        experiment = running_for(shop, item.placement)
        if experiment is None or experiment.experiment_id != item.experiment_id:
            continue  # an answer of an experiment that stopped meanwhile (or never ran)
        unit = pinned.get(experiment.experiment_id, own)
        if arm_for(experiment, unit).name != item.arm:
            unit = own
        groups.setdefault((experiment.experiment_id, unit), (experiment, []))[1].append(
            item.event)
    counted = 0
    for (_, unit), (experiment, events) in groups.items():
        counted += await data.count_events(cache.redis, shop.shop_id, experiment, unit, events)
    return counted


# ---- over the experiment's life -----------------------------------------------------------


async def results_of(redis: aioredis.Redis, shop_id: str, experiment: Experiment,
                     now: float | None = None) -> dict[str, Any] | None:
    """The experiment's results: live while it runs, those kept at the stop after; None for a
    draft."""
    if experiment.status == store.DRAFT:
        return None
    if experiment.results is not None:
        return dict(experiment.results)
    found = await data.experiment_data(redis, shop_id, experiment.experiment_id)
    return experiment_results(experiment, found, time.time() if now is None else now)


async def stop(redis: aioredis.Redis, shop_id: str, experiment_id: str,
               now: float | None = None) -> Experiment:
    """Stop a running experiment and keep its results as of now: they never change again."""
    at = time.time() if now is None else now
    stopped = await store.stop_experiment(redis, shop_id, experiment_id, at)
    return await freeze(redis, shop_id, stopped, at)


async def freeze(redis: aioredis.Redis, shop_id: str, experiment: Experiment,
                 now: float) -> Experiment:
    """Keep the results of a stopped experiment that has none kept yet."""
    if experiment.results is not None or experiment.status == store.RUNNING:
        return experiment
    found = await data.experiment_data(redis, shop_id, experiment.experiment_id)
    return await store.keep_results(redis, shop_id, experiment.experiment_id,
                                    experiment_results(experiment, found, now))


async def ship(redis: aioredis.Redis, shop_id: str, experiment_id: str, arm_name: str,
               now: float | None = None) -> Experiment:
    """Stop the experiment if it runs, then serve its placement with `arm_name`'s strategy."""
    found = await store.get_experiment(redis, shop_id, experiment_id)
    if found is None:
        raise UnknownExperiment(f"shop {shop_id!r} has no experiment {experiment_id!r}")
    found.arm(arm_name)
    if found.status == store.RUNNING:
        await stop(redis, shop_id, experiment_id, now)
    elif found.status == store.STOPPED:  # its results kept, if a stop left none
        await freeze(redis, shop_id, found, time.time() if now is None else now)
    return await store.ship_experiment(redis, shop_id, experiment_id, arm_name)


def served_by(shop: Shop, placement: str, assignment: Assignment | None) -> str:
    """The strategy that answers (Arm.serves): the arm's in an experiment, else the
    placement's shipped one, else the shop's chosen model."""
    if assignment is not None:
        return assignment.arm.serves
    return store.serving_strategy(shop.serving, placement)
