"""Order facts: the few fields of a stored order that the lifecycle figures read (customer,
time, exact net value, currency), written by the order store in the same script as the order,
so that they can never disagree and a shop's whole history loads in one read.

An order is a fact when it is not cancelled, names a customer, and keeps a net value above
zero: sum(price * net quantity) over its lines, the net quantity being what was ordered minus
what refunds gave back (Order.net_quantity). A fully refunded or free order is not a purchase.
Values are exact; one finer than 10**-MAX_SCALE of its currency (no real price is) is rounded
to that, half to even.

keys.order_facts(shop) maps order id -> record: 24 bytes little-endian (created_at float64,
value mantissa int64, value exponent int32, currency as 3 ASCII bytes or NULs, kind uint8),
then the customer id in UTF-8. Kind 1: the value is mantissa * 10**exponent. Kind 2 (a
mantissa int64 cannot hold): the mantissa field is 0 and the mantissa follows the customer id
after a line feed, in decimal (ids are printable: they hold no line feed).
keys.order_facts_version(shop) counts the changes (`n`) under a token (`epoch`) set by the first
write: equal (epoch, n) means equal facts, also after the shop was deleted and written anew.
"""

from __future__ import annotations

import struct
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.derived import Derived, backfill, write_records_of
from plugin.store.order import Order
from recommender.lifecycle import MAX_SCALE, Facts

Version = tuple[Any, ...]
_HEAD = struct.Struct("<dqi3sB")
_RECORD = np.dtype([("at", "<f8"), ("mantissa", "<i8"), ("exponent", "<i4"),
                    ("currency", "S3"), ("kind", "u1")])
_IN_RECORD, _AFTER_ID = 1, 2
_INT64_MAX = 2**63 - 1

# write_fact(facts, version, order id, record or '' (not a fact), token): the one way a fact
# changes; the caller's script includes it and calls it in the transaction that writes the
# order.
WRITE_FACT_LUA = """
local function write_fact(facts, version, order_id, record, token)
  if record == '' then
    if redis.call('HDEL', facts, order_id) == 0 then return end
  elseif redis.call('HGET', facts, order_id) == record then
    return
  else
    redis.call('HSET', facts, order_id, record)
  end
  redis.call('HSETNX', version, 'epoch', token)
  redis.call('HINCRBY', version, 'n', 1)
end
"""


def fact_keys(shop_id: str) -> tuple[str, str]:
    """The keys write_fact takes: the facts and their version."""
    return keys.order_facts(shop_id), keys.order_facts_version(shop_id)


def fact_args(order: Order) -> tuple[bytes, str]:
    """The record and token write_fact takes for `order` (b'' if it is not a fact)."""
    return fact_record(order), uuid.uuid4().hex


def fact_record(order: Order) -> bytes:
    """The packed fact of `order`, b'' when it is not a fact (see the module docstring)."""
    if order.cancelled or order.customer_id is None:
        return b""
    mantissa, exponent = net_value(order)
    if mantissa <= 0:
        return b""
    head = (order.created_at, mantissa, exponent, order.currency.encode("ascii"), _IN_RECORD)
    customer = order.customer_id.encode("utf-8")
    if mantissa <= _INT64_MAX:
        return _HEAD.pack(*head) + customer
    return _HEAD.pack(*head[:1], 0, *head[2:4], _AFTER_ID) + customer + b"\n" + \
        str(mantissa).encode("ascii")


def net_value(order: Order) -> tuple[int, int]:
    """sum(price * net quantity) of the order's lines, exactly: (mantissa, exponent). The net
    quantities are Order.net_quantity's, computed for all lines at once."""
    given_back: dict[str | None, int] = {}
    for refund in order.refunds:
        given_back[refund.line_id] = given_back.get(refund.line_id, 0) + refund.quantity
    mantissa, exponent = 0, 0
    for line in order.lines:
        quantity = line.quantity
        if line.line_id and given_back:
            quantity = max(0, quantity - given_back.get(line.line_id, 0))
        if not quantity:
            continue
        price, places = _decimal_parts(line.price)
        if places < exponent:
            mantissa, exponent = mantissa * 10 ** (exponent - places), places
        mantissa += price * quantity * 10 ** (places - exponent)
    if exponent < -MAX_SCALE:
        mantissa, exponent = _round_half_even(mantissa, 10 ** (-MAX_SCALE - exponent)), -MAX_SCALE
    return mantissa, exponent


def _decimal_parts(amount: str) -> tuple[int, int]:
    """A decimal string as (mantissa, exponent); plain "12.34" without building a Decimal."""
    whole, _dot, fraction = amount.partition(".")
    if amount.isascii() and whole.isdigit() and (fraction.isdigit() or not fraction):
        return int(whole + fraction), -len(fraction)
    sign, digits, exponent = Decimal(amount).as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    return (-mantissa if sign else mantissa), int(exponent)


def _round_half_even(mantissa: int, divisor: int) -> int:
    quotient, rest = divmod(mantissa, divisor)
    if 2 * rest > divisor or (2 * rest == divisor and quotient % 2):
        quotient += 1
    return quotient


# ---- reading ----------------------------------------------------------------------------------


async def facts_version(redis: aioredis.Redis, shop_id: str) -> Version:
    """(epoch, n) of the shop's facts: one cheap read that says whether they changed."""
    return tuple(await redis.hmget(keys.order_facts_version(shop_id), ["epoch", "n"]))


async def read_records(redis: aioredis.Redis, shop_id: str) -> tuple[Version, list[bytes]]:
    """Every fact record of the shop and their version, read together (one transaction)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.order_facts_version(shop_id), ["epoch", "n"])
        pipe.hvals(keys.order_facts(shop_id))
        version, records = await pipe.execute()
    return tuple(version), records


def parse_records(records: list[bytes]) -> Facts:
    """The Facts of packed records (read_records); vectorised but for the customer ids."""
    size = _HEAD.size
    heads = np.frombuffer(b"".join([record[:size] for record in records]), dtype=_RECORD)
    tails = [record[size:] for record in records]
    mantissa: Any = heads["mantissa"]
    if (heads["kind"] == _AFTER_ID).any():
        mantissa = mantissa.astype(object)
        for i in np.flatnonzero(heads["kind"] == _AFTER_ID):
            tails[i], digits = tails[i].split(b"\n")
            mantissa[i] = int(digits)
    customers = b"\n".join(tails).decode("utf-8").split("\n") if records else []
    codes = np.unique(heads["currency"])  # a few
    names = np.array([code.decode("ascii") for code in codes], dtype=object)
    currencies = names[np.searchsorted(codes, heads["currency"])].tolist()
    return Facts.from_columns(customers, heads["at"], mantissa, heads["exponent"], currencies)


# ---- erasure and the migration ----------------------------------------------------------------


def remove_facts(pipe: Any, shop_id: str, order_ids: list[str]) -> None:
    """Queue on `pipe` (a MULTI pipeline) the removal of these orders' facts."""
    facts, version = fact_keys(shop_id)
    pipe.hdel(facts, *order_ids)
    pipe.hsetnx(version, "epoch", uuid.uuid4().hex)
    pipe.hincrby(version, "n", 1)


FACTS = Derived(WRITE_FACT_LUA, "write_fact(KEYS[2], KEYS[3], ARGV[1], ARGV[3], ARGV[4])",
                fact_keys, fact_record, lambda: (uuid.uuid4().hex,))


async def backfill_facts(redis: aioredis.Redis, shop_id: str) -> int:
    """Write the fact of every stored order (orders stored before facts existed). Facts
    written."""
    return await backfill(redis, shop_id, FACTS)


async def write_facts_of(redis: aioredis.Redis, shop_id: str,
                         stored: list[tuple[bytes, bytes]]) -> int:
    """Write the facts of stored orders, given as (order id, JSON as read); an order whose
    JSON changed since is left to the write that changed it. Facts written."""
    return await write_records_of(redis, shop_id, FACTS, stored)
