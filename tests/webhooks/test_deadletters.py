"""Dead letters: a failing event is retried or dead-lettered, listed, and replayed once fixed.

Poison events are Shopify orders whose body is `[]`; transient failures come from a local fake
Ecwid API answering 503 to the order fetch. These tests use an embedded Redis of their own, so
no other worker (the session's live server runs one) takes their events: each attempt below is
made by the Ingestor the test drives.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin.config import Settings
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.events import Event, append
from plugin.store.records import get_order
from plugin.store.shops import Shop, add_shop
from tests.conftest import Store, shopreco
from tests.helpers import SHARED_DATA, body_of
from tests.platform_server import FakePlatformApi, Reply, drain, register_shop
from webhooks import ecwid
from webhooks.deadletters import ALL, DeadLetterError, list_dead, replay_dead
from webhooks.http import PlatformHttp
from webhooks.ingest import GROUP, MAX_ATTEMPTS, Ingestor, dead_letter

ECWID_DATA = SHARED_DATA / "webhooks" / "ecwid"
DOCS_ORDER: dict[str, Any] = json.loads((ECWID_DATA / "order_get_response_docs.json").read_text())


@pytest.fixture(scope="module")
def own_store() -> Iterator[Store]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-dead-"))
    embedded = EmbeddedRedis(path, fsync_always=False)
    try:
        yield Store(embedded, Settings(data_dir=path, fsync_always=False))
    finally:
        embedded.close()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shop_id(own_store: Store) -> str:
    shop_id = "d-" + uuid.uuid4().hex[:12]
    own_store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                     "http://testserver"))
    return shop_id


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


def ecwid_order_created(store: Store, api: FakePlatformApi) -> tuple[Shop, Event, str]:
    """An Ecwid shop whose API is the fake one, the docs' order.created event for it (Ecwid
    events carry ids only: the worker fetches the order), and the API path it fetches."""
    store_id = str(2_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    shop = register_shop(store, "ecwid", store_id, api.url)
    payload = {**json.loads((ECWID_DATA / "webhook_order_created_docs.json").read_text()),
               "storeId": int(store_id), "eventId": str(uuid.uuid4())}
    event = Event("ecwid", payload["eventType"], payload["eventId"], body_of(payload))
    return shop, event, f"/{store_id}/orders/{payload['entityId']}"


def one_try_http() -> PlatformHttp:
    """A worker's HTTP client that gives up after one request: every fetch failure reaches
    the worker, which retries the event itself."""
    return PlatformHttp(max_attempts=1)


def poison_event(delivery: str | None = None) -> Event:
    """A Shopify orders/create whose body is `[]`: the worker refuses it for good."""
    return Event("shopify", "orders/create", delivery or uuid.uuid4().hex, b"[]")


def accept_and_drain(store: Store, shop_id: str, *events: Event) -> list[str]:
    """Append through the receiver's intake, let a worker process everything; the event ids."""
    async def work(redis: Any) -> list[str]:
        ids = [await append(redis, shop_id, event) for event in events]
        await Ingestor(redis).drain(shop_id)
        return [event_id for event_id in ids if event_id]

    return store.run(work)


def dead_of(store: Store, shop_id: str, with_body: bool = False) -> list[dict[str, Any]]:
    return store.run(lambda r: list_dead(r, shop_id, 100, with_body))


def pending(store: Store, shop_id: str) -> int:
    return int(store.run(lambda r: r.xpending(keys.events(shop_id), GROUP))["pending"])


def poison(store: Store, shop_id: str, delivery: str | None = None) -> str:
    (event_id,) = accept_and_drain(store, shop_id, poison_event(delivery))
    return event_id


def test_poison_event_is_listed_with_its_error_and_attempts(own_store, shop_id) -> None:
    (event_id,) = accept_and_drain(own_store, shop_id, poison_event("poison-1"))
    (dead,) = dead_of(own_store, shop_id)
    assert dead["event_id"] == event_id and dead["dead_letter_id"] != event_id
    assert (dead["platform"], dead["topic"], dead["delivery_id"]) == \
        ("shopify", "orders/create", "poison-1")
    assert dead["error"] == "PayloadError: an order must be a JSON object"
    assert (dead["attempts"], dead["replays"]) == (1, 0)
    assert isinstance(dead["received_at"], float)
    assert dead["failed_at"] >= int(dead["received_at"])
    assert pending(own_store, shop_id) == 0


def test_listing_leaves_the_body_out_unless_asked(own_store, shop_id) -> None:
    poison(own_store, shop_id)
    assert "body" not in dead_of(own_store, shop_id)[0]
    assert dead_of(own_store, shop_id, with_body=True)[0]["body"] == "[]"


def test_listing_stops_at_the_limit_oldest_first(own_store, shop_id) -> None:
    first = poison(own_store, shop_id)
    poison(own_store, shop_id)
    listed = own_store.run(lambda r: list_dead(r, shop_id, 1))
    assert [dead["event_id"] for dead in listed] == [first]


def test_listing_an_unknown_shop_is_refused(own_store) -> None:
    with pytest.raises(DeadLetterError, match="no shop 'nobody-here'"):
        own_store.run(lambda r: list_dead(r, "nobody-here"))


def fail_until_dead(store: Store, shop_id: str, event: Event) -> str:
    """Accept the event, then let one worker retry it until it is dead-lettered; its id."""
    async def work(redis: Any) -> str:
        http = one_try_http()
        try:
            event_id = await append(redis, shop_id, event)
            ingestor = Ingestor(redis, consumer="retrier", http=http)
            await ingestor.read_once([shop_id])
            while await redis.xlen(keys.dead_letters(shop_id)) == 0:
                await ingestor.claim_stale(shop_id, min_idle_ms=0)
        finally:
            await http.aclose()
        assert event_id is not None
        return event_id

    return store.run(work)


def test_transient_failure_is_retried_until_max_attempts(own_store, api) -> None:
    shop, event, path = ecwid_order_created(own_store, api)
    api.reply(path, Reply(503))  # Ecwid is down for good

    async def work(redis: Any) -> list[tuple[int, int]]:
        http = one_try_http()
        try:
            await append(redis, shop.shop_id, event)
            ingestor = Ingestor(redis, consumer="retrier", http=http)
            await ingestor.read_once([shop.shop_id])
            seen = []
            for _ in range(MAX_ATTEMPTS):  # one more chance than it needs
                summary = await redis.xpending(keys.events(shop.shop_id), GROUP)
                seen.append((summary["pending"], await redis.xlen(keys.dead_letters(shop.shop_id))))
                await ingestor.claim_stale(shop.shop_id, min_idle_ms=0)
            return seen
        finally:
            await http.aclose()

    seen = own_store.run(work)
    assert seen == [(1, 0)] * (MAX_ATTEMPTS - 1) + [(0, 1)]
    assert len(api.requests_to(path)) == MAX_ATTEMPTS
    (dead,) = dead_of(own_store, shop.shop_id)
    assert dead["attempts"] == MAX_ATTEMPTS
    assert dead["error"].startswith(f"FetchError: GET {api.url}{path} ")
    assert "answered 503" in dead["error"]


def test_replay_after_the_platform_recovers_stores_the_order(own_store, api) -> None:
    shop, event, path = ecwid_order_created(own_store, api)
    # down for every attempt of the worker, back in time for the replay
    api.reply(path, *[Reply(503)] * MAX_ATTEMPTS, DOCS_ORDER)
    event_id = fail_until_dead(own_store, shop.shop_id, event)
    marker = keys.seen_delivery(shop.shop_id, event.delivery_id)
    assert own_store.run(lambda r: r.exists(marker)) == 1  # the dedupe marker stays set

    assert own_store.run(lambda r: replay_dead(r, shop.shop_id, [event_id])) == 1
    drain(own_store, shop.shop_id)
    stored = own_store.run(lambda r: get_order(r, shop.shop_id, "1028"))
    assert stored == ecwid.parse_order(DOCS_ORDER, shop.currency)
    assert dead_of(own_store, shop.shop_id) == [] and pending(own_store, shop.shop_id) == 0


def test_replay_appends_the_original_fields_as_a_new_event(own_store, shop_id) -> None:
    event_id = poison(own_store, shop_id)
    original = own_store.run(lambda r: r.xrange(keys.events(shop_id), event_id, event_id))
    own_store.run(lambda r: replay_dead(r, shop_id, [event_id]))
    newest = own_store.run(lambda r: r.xrevrange(keys.events(shop_id), count=1))
    assert newest[0][0].decode() != event_id
    assert newest[0][1] == {**original[0][1], b"replays": b"1"}


def test_a_replay_is_parsed_again_from_its_body(own_store, shop_id) -> None:
    """The order the receiver made of the body is left out: a replay runs today's code."""
    dead_order = b'{"order_id": "not what the body says"}'
    event = Event("shopify", "orders/create", uuid.uuid4().hex, b"[]", order=dead_order)
    event_id = own_store.run(lambda r: append(r, shop_id, event))
    own_store.run(lambda r: dead_letter(r, shop_id, event_id.encode(),
                                        {k.encode(): v if isinstance(v, bytes) else v.encode()
                                         for k, v in event.fields().items()},
                                        ValueError("gave up"), 1))
    own_store.run(lambda r: replay_dead(r, shop_id, [event_id]))
    newest = own_store.run(lambda r: r.xrevrange(keys.events(shop_id), count=1))
    assert newest[0][1][b"body"] == b"[]" and b"order" not in newest[0][1]


def test_replayed_poison_event_comes_back_once_more(own_store, shop_id) -> None:
    first_id = poison(own_store, shop_id, delivery="poison-2")
    own_store.run(lambda r: replay_dead(r, shop_id, [first_id]))
    accept_and_drain(own_store, shop_id)
    (dead,) = dead_of(own_store, shop_id)
    assert dead["event_id"] != first_id
    assert (dead["attempts"], dead["replays"], dead["delivery_id"]) == (1, 1, "poison-2")
    assert dead["error"].startswith("PayloadError")


def test_replay_of_an_unknown_event_id_replays_nothing(own_store, shop_id) -> None:
    event_id = poison(own_store, shop_id)
    length = own_store.run(lambda r: r.xlen(keys.events(shop_id)))
    with pytest.raises(DeadLetterError, match=r"no dead letter for event 1-1\b"):
        own_store.run(lambda r: replay_dead(r, shop_id, [event_id, "1-1"]))
    assert [dead["event_id"] for dead in dead_of(own_store, shop_id)] == [event_id]
    assert own_store.run(lambda r: r.xlen(keys.events(shop_id))) == length


def test_replay_all_replays_each_event_once(own_store, shop_id) -> None:
    first = poison(own_store, shop_id, delivery="one")
    poison(own_store, shop_id, delivery="two")

    async def dead_letter_again(redis: Any) -> None:  # a worker that crashed before its XACK
        ((entry_id, fields),) = await redis.xrange(keys.events(shop_id), first, first)
        await dead_letter(redis, shop_id, entry_id, fields, ValueError("again"), 1)

    own_store.run(dead_letter_again)
    assert own_store.run(lambda r: replay_dead(r, shop_id, ALL)) == 2
    replayed = own_store.run(lambda r: r.xrevrange(keys.events(shop_id), count=3))
    assert [fields.get(b"replays") for _, fields in replayed] == [b"1", b"1", None]
    assert sorted(fields[b"delivery_id"] for _, fields in replayed[:2]) == [b"one", b"two"]
    assert dead_of(own_store, shop_id) == []


def test_cli_lists_dead_letters_as_json(own_store, shop_id) -> None:
    event_id = poison(own_store, shop_id)
    poison(own_store, shop_id)
    result = shopreco(own_store, "dead-letters", "list", shop_id, "--limit", "1")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["shop_id"], shown["total"]) == (shop_id, 2)
    assert [dead["event_id"] for dead in shown["dead_letters"]] == [event_id]
    assert "body" not in shown["dead_letters"][0]


def test_cli_replays_named_events(own_store, shop_id) -> None:
    event_id = poison(own_store, shop_id)
    result = shopreco(own_store, "dead-letters", "replay", shop_id, event_id)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"shop_id": shop_id, "replayed": 1}
    assert dead_of(own_store, shop_id) == []


def test_cli_refuses_an_unknown_event_id(own_store, shop_id) -> None:
    poison(own_store, shop_id)
    result = shopreco(own_store, "dead-letters", "replay", shop_id, "123-0")
    assert result.returncode == 1
    assert f"shop {shop_id!r} has no dead letter for event 123-0" in result.stderr
    assert len(dead_of(own_store, shop_id)) == 1
