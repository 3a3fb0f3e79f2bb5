"""What an experiment counts, per arm: units exposed, widget events, orders.

- Exposure: the first answer a unit gets in the experiment stores it with its arm and time
  (once); a customer named with a visitor is pinned to that visitor's unit (once), so their
  later requests on any device, their events and their orders count for that unit.
- Events: impressions, clicks and add-to-carts that name the experiment count for the arm of
  the unit that sent them (recomputed here, whatever arm the event claims), once per event id,
  and only for a unit that was exposed; the units with a click and with an add-to-cart are
  counted too (the per-visitor rates).
- Orders: each time an order is stored (plugin.store.attribution calls `count_orders`), it
  counts for every running experiment whose unit its customer is pinned to, if that unit was
  exposed before the order's time and the experiment was running then; otherwise (cancelled,
  refunded to nothing) it stops counting. Its net value in its own currency is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.experiments import Experiment, arm_index, parse_running
from plugin.store.facts import net_value
from plugin.store.order import Order
from plugin.store.scripts import Arg, Script

ORDER_TIME_RESOLUTION = 1.0  # platforms give an order's time in whole seconds
COUNTED = ("impression", "click", "add_to_cart")

# KEYS units, pins, counts; ARGV unit, customer ('' none), arm index, now. A customer pinned
# to another unit: that unit is answered and nothing is written (the caller exposes it).
_EXPOSE = Script("""
if ARGV[2] ~= '' then
  local pinned = redis.call('HGET', KEYS[2], ARGV[2])
  if pinned and pinned ~= ARGV[1] then return pinned end
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3] .. ' ' .. ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[3] .. ':visitors', 1)
end
return ARGV[1]
""")

# KEYS units, counts, acts, then one seen-marker per event; ARGV unit, arm index, marker
# expiry, then one kind per event (ARGV[i] goes with KEYS[i] from 4 on). Counts how many.
_COUNT_EVENTS = Script("""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local acted = {click = 'clicked', add_to_cart = 'added'}
local n = 0
for i = 4, #KEYS do
  local kind = ARGV[i]
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[3]) then
    n = n + 1
    redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':' .. kind, 1)
    if acted[kind] and redis.call('HSETNX', KEYS[3], kind .. ':' .. ARGV[1], '1') == 1 then
      redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':' .. acted[kind], 1)
    end
  end
end
return n
""")


# KEYS pins; ARGV customer, unit: the customer's pinned unit, pinned to `unit` if none yet.
_PIN = Script("""
local pinned = redis.call('HGET', KEYS[1], ARGV[1])
if pinned then return pinned end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
""")


async def pin_customer(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                       customer_id: str, unit: str) -> str:
    """Pin the customer to `unit` unless pinned already; the unit they are pinned to."""
    return text(await _PIN(redis, [keys.experiment_pins(shop_id, experiment_id)],
                           [customer_id, unit]))


async def pinned_unit(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                      customer_id: str) -> str | None:
    """The unit the customer is pinned to in the experiment, if any."""
    found = await redis.hget(keys.experiment_pins(shop_id, experiment_id), customer_id)
    return None if found is None else text(found)


async def expose(redis: aioredis.Redis, shop_id: str, experiment: Experiment, unit: str,
                 customer_id: str | None, now: float) -> str:
    """Count `unit` as exposed (once) and pin `customer_id` to it (once); the unit that
    counts: the customer's pinned one when they already had one."""
    experiment_id = experiment.experiment_id
    names = [keys.experiment_units(shop_id, experiment_id),
             keys.experiment_pins(shop_id, experiment_id),
             keys.experiment_counts(shop_id, experiment_id)]
    found = text(await _EXPOSE(redis, names, [unit, customer_id or "",
                                              arm_index(experiment, unit), repr(now)]))
    if found != unit:
        await _EXPOSE(redis, names, [found, "", arm_index(experiment, found), repr(now)])
    return found


@dataclass(frozen=True)
class Counted:
    """A widget event to count for an experiment."""

    event_id: str
    kind: str  # one of COUNTED


async def count_events(redis: aioredis.Redis, shop_id: str, experiment: Experiment, unit: str,
                       events: Sequence[Counted]) -> int:
    """Count the events (new event ids only) for the arm of `unit`, if it was exposed; how
    many counted."""
    if not events:
        return 0
    experiment_id = experiment.experiment_id
    names = [keys.experiment_units(shop_id, experiment_id),
             keys.experiment_counts(shop_id, experiment_id),
             keys.experiment_acts(shop_id, experiment_id),
             *(keys.experiment_event_seen(shop_id, e.event_id) for e in events)]
    args: list[Arg] = [unit, arm_index(experiment, unit), keys.WIDGET_EVENT_DEDUPE_SECONDS,
                       *(e.kind for e in events)]
    return int(await _COUNT_EVENTS(redis, names, args))


# ---- orders ------------------------------------------------------------------------------


def order_value(order: Order) -> Decimal:
    """The order's net value: sum(price * net quantity) of its lines."""
    mantissa, exponent = net_value(order)
    return Decimal(mantissa).scaleb(exponent)


async def count_orders(redis: aioredis.Redis, shop_id: str, orders: Sequence[Order]) -> None:
    """Count (or stop counting) each stored order for the shop's running experiments; one
    round trip when none runs."""
    raw = await redis.hget(keys.shop_config(shop_id), "experiments")
    running = parse_running({"experiments": text(raw)}) if raw else ()
    if not running or not orders:
        return
    for experiment in running:
        await _count_orders(redis, shop_id, experiment, orders)


async def _count_orders(redis: aioredis.Redis, shop_id: str, experiment: Experiment,
                        orders: Sequence[Order]) -> None:
    experiment_id = experiment.experiment_id
    customers = sorted({o.customer_id for o in orders if o.customer_id is not None})
    units: dict[str, str] = {}
    if customers:
        pins = await redis.hmget(keys.experiment_pins(shop_id, experiment_id), customers)
        units = {c: text(u) for c, u in zip(customers, pins, strict=True) if u is not None}
    exposed: dict[str, float] = {}
    if units:
        wanted = sorted(set(units.values()))
        found = await redis.hmget(keys.experiment_units(shop_id, experiment_id), wanted)
        exposed = {u: float(text(f).split()[1]) for u, f in zip(wanted, found, strict=True)
                   if f is not None}
    counted: dict[str, str] = {}
    for order in orders:
        unit = units.get(order.customer_id or "")
        value = order_value(order)
        if unit is None or unit not in exposed or order.cancelled or value <= 0 \
                or order.created_at + ORDER_TIME_RESOLUTION < (experiment.started_at or 0) \
                or exposed[unit] > order.created_at + ORDER_TIME_RESOLUTION:
            continue
        counted[order.order_id] = json.dumps(
            [unit, arm_index(experiment, unit), order.currency, str(value)])
    gone = [o.order_id for o in orders if o.order_id not in counted]
    async with redis.pipeline(transaction=True) as pipe:
        if gone:
            pipe.hdel(keys.experiment_orders(shop_id, experiment_id), *gone)
        if counted:
            pipe.hset(keys.experiment_orders(shop_id, experiment_id),
                      mapping={order_id: entry for order_id, entry in counted.items()})
        await pipe.execute()


# ---- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountedOrder:
    order_id: str
    unit: str
    arm: int  # index
    currency: str
    value: Decimal


@dataclass(frozen=True)
class ExperimentData:
    """What an experiment counted: `counts` "<arm index>:<counter>" -> n, and its orders."""

    counts: dict[str, int]
    orders: tuple[CountedOrder, ...]

    def count(self, arm: int, counter: str) -> int:
        return self.counts.get(f"{arm}:{counter}", 0)


async def experiment_data(redis: aioredis.Redis, shop_id: str, experiment_id: str
                          ) -> ExperimentData:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.experiment_counts(shop_id, experiment_id))
        pipe.hgetall(keys.experiment_orders(shop_id, experiment_id))
        counts, orders = await pipe.execute()
    found = []
    for order_id, raw in sorted(orders.items()):
        unit, arm, currency, value = json.loads(raw)
        found.append(CountedOrder(text(order_id), unit, int(arm), currency, Decimal(value)))
    return ExperimentData({text(k): int(v) for k, v in counts.items()}, tuple(found))
