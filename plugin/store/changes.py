"""Change notes: how every process learns that something it caches of a shop changed.

Each process keeps what every request reads of a shop in memory (plugin.store.cache): the shop
record, catalog display fields, the never-shown products, customers' histories and the serving
model. Whoever writes one of those adds a note to the shop's change stream in the same
transaction as the write; each process reads the notes of the shops it caches every
`plugin.store.cache.REFRESH_SECONDS` and drops what they name. Notes are numbered: a reader
that finds a number missing (the stream was trimmed past what it read, or deleted and begun
again) drops everything of that shop.

Kinds (`id` in brackets):
    shop        the registration: config, keys, secrets, origins (-)
    product     one catalog entry or its availability (product id)
    blocked     the owner's exclusions (-)
    pins        the owner's pinned products (-); a pin's end needs no note: every process
                holding the pins drops them and its kept answers at that instant by itself
    customer    one customer's orders (customer digest)
    erased      a customer was erased: their history and the model are reloaded before the
                next answer (customer digest)
    model       a model version was published (version)
    all         everything of the shop (-)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from plugin.store import keys

SHOP, PRODUCT, BLOCKED, PINS, CUSTOMER, ERASED, MODEL, ALL = (
    "shop", "product", "blocked", "pins", "customer", "erased", "model", "all")
KINDS = frozenset({SHOP, PRODUCT, BLOCKED, PINS, CUSTOMER, ERASED, MODEL, ALL})

# note_change(stream, sequence, maxlen, kind, id): the one way a note is added; a script that
# writes what caches hold includes it and calls it in the same step as the write (note_keys
# gives the keys, keys.CHANGES_MAXLEN the length).
NOTE_LUA = """
local function note_change(stream, sequence, maxlen, kind, ident)
  local n = redis.call('INCR', sequence)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'n', n, 'k', kind, 'i', ident)
  return n
end
"""
_NOTE = NOTE_LUA + """
local n
for i = 2, #ARGV, 2 do
  n = note_change(KEYS[1], KEYS[2], ARGV[1], ARGV[i], ARGV[i + 1])
end
return n
"""


def note_keys(shop_id: str) -> list[str]:
    """The keys note_change takes: the shop's change stream and its sequence."""
    return [keys.changes(shop_id), keys.changes_sequence(shop_id)]


def customer_digest(customer_id: str) -> str:
    """How a note names a customer: the stream is shared state, not a place for their id."""
    return hashlib.blake2b(customer_id.encode(), digest_size=12).hexdigest()


def note(client: Any, shop_id: str, *changes: tuple[str, str]) -> Any:
    """Add notes `(kind, id)` to the shop's change stream: queued when `client` is a pipeline
    (then they commit with the write), else an awaitable that sends them."""
    argv: list[str | int] = [keys.CHANGES_MAXLEN]
    for kind, ident in changes:
        if kind not in KINDS:
            raise ValueError(f"unknown change kind {kind!r}")
        argv += [kind, ident]
    return client.eval(_NOTE, 2, *note_keys(shop_id), *argv)


def customer_notes(customer_ids: Sequence[str | None]) -> list[tuple[str, str]]:
    """Notes for customers whose orders changed (None, a guest, is left out)."""
    return [(CUSTOMER, customer_digest(c)) for c in dict.fromkeys(customer_ids) if c]


def unbroken(notes: Sequence[tuple[bytes, Mapping[bytes, bytes]]], last_n: int
             ) -> Sequence[tuple[bytes, Mapping[bytes, bytes]]]:
    """The first of `notes` (`(id, fields)` as read from a stream of numbered notes) whose
    numbers go on from `last_n` one by one: all of them, unless a number is missing (notes were
    lost to trimming, or the stream began again), when the reader must drop everything."""
    for count, (_id, fields) in enumerate(notes):
        if int(fields.get(b"n", 0)) != last_n + count + 1:
            return notes[:count]
    return notes
