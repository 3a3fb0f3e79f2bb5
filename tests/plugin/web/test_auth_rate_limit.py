"""The API keys' rate limit (plugin/web/auth.py) over real HTTP: every answer once the key is
known carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers) with
what is left; over the limit a 429 problem with `Retry-After`, the call not run; refusals of
the key are not counted; each key has a budget of its own; the window ends when Retry-After
says; a limit set with `shopreco shops rate-limit` holds across the web processes of
`serve --workers 2`. Small limits (a shop set to 2 to 5 calls a minute), not hundreds of
calls."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from plugin.store import keys
from plugin.store.api_keys import create_key
from plugin.store.connection import EmbeddedRedis
from plugin.store.exclusions import excluded
from plugin.store.shops import NewShop, add_shop, set_api_rate
from plugin.web.auth import ApiRateLimit
from tests.conftest import LiveServer, Store, free_port, settings_for
from tests.helpers import auth, eventually
from tests.openapi_check import reference, schema_errors
from tests.plugin.test_supervisor import command_env, process_of, settings_for_dir, wait_healthy

WINDOW = keys.API_RATE_WINDOW_SECONDS
RATE = re.compile(r'^"default";a=(\d+);w=(\d+)$')  # the draft after -11: available, window
EXCLUSIONS = "/api/v1/shops/{shop_id}/exclusions"


def trending(shop_id: str) -> str:
    return f"/api/v1/shops/{shop_id}/recommendations/trending"


def limited(store: Store, shop: NewShop, per_minute: int) -> NewShop:
    store.run(lambda r: set_api_rate(r, shop.shop.shop_id, per_minute))
    return shop


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def left(answer: httpx.Response) -> tuple[int, int]:
    """(a, w) of the answer's RateLimit field: the available quota and the effective window."""
    found = RATE.match(answer.headers["ratelimit"])
    assert found, answer.headers["ratelimit"]
    return int(found[1]), int(found[2])


def within_one_window(seconds: float = 5, window: float = WINDOW) -> None:
    """Start calls that must count in one window at least `seconds` before it ends."""
    into = time.time() % window
    if into > window - seconds:
        time.sleep(window - into + 0.05)


def test_check_counts_and_makes_the_headers_of_each_call() -> None:
    rate = ApiRateLimit(None, per_minute=600)  # type: ignore[arg-type]  # no sync: no Redis
    within_one_window()
    calls = [rate.check("s", "k", 2) for _ in range(3)]
    assert [wait for wait, _ in calls[:2]] == [0, 0] and 1 <= calls[2][0] <= WINDOW
    assert calls[0][1][0] == (b"ratelimit-policy", b'"default";q=2;w=60')
    assert [RATE.match(headers[1][1].decode())[1] for _, headers in calls] == ["1", "0", "0"]
    assert rate.check("s", "other key", 2)[0] == 0  # a budget of its own


def structured_list(value: str) -> list[tuple[str, dict[str, int]]]:
    """A Structured Field List of String items with Integer parameters (RFC 9651 sections
    4.2.1, 4.2.3, 4.2.5, 4.2.6), parsed strictly: anything else fails the test."""
    members = []
    for member in value.split(","):
        text = member.strip(" ")
        found = re.fullmatch(r'"([^"\\]*)"((?:;[a-z*][a-z0-9_.*-]*=-?[0-9]{1,15})*)', text)
        assert found, value
        params = [p.split("=") for p in found[2].split(";")[1:]]
        assert len({k for k, _ in params}) == len(params), value  # each parameter once
        members.append((found[1], {k: int(v) for k, v in params}))
    return members


def test_the_fields_are_the_drafts_structured_lists_of_one_policy(http, store, shop) -> None:
    """RateLimit-Policy: "default";q;w and RateLimit: "default";a;w (the draft after -11):
    one String item each, the same policy, the required q and a, windows in seconds."""
    shop_id = limited(store, shop, 3).shop.shop_id
    within_one_window()
    answer = http.get(trending(shop_id), headers=auth(shop))
    [(policy, declared)] = structured_list(answer.headers["ratelimit-policy"])
    [(named, now)] = structured_list(answer.headers["ratelimit"])
    assert policy == named == "default"
    assert declared == {"q": 3, "w": WINDOW} and set(now) == {"a", "w"}
    assert now["a"] == 2 and 1 <= now["w"] <= WINDOW


def test_every_answer_carries_the_policy_and_what_is_left(http, store, shop) -> None:
    shop_id = limited(store, shop, 5).shop.shop_id
    within_one_window()
    answers = [http.get(trending(shop_id), headers=auth(shop)) for _ in range(2)]
    answers.append(http.get(trending(shop_id), params={"limit": "0"}, headers=auth(shop)))
    answers.append(http.get(f"/api/v1/shops/{shop_id}/model", headers=auth(shop)))
    answers.append(http.post(f"/api/v1/shops/{shop_id}/recommendations/cart",
                             json={"product_ids": ["1"]}, headers=auth(shop)))
    assert [a.status_code for a in answers] == [200, 200, 400, 200, 200]
    assert {a.headers["ratelimit-policy"] for a in answers} == {'"default";q=5;w=60'}
    assert [left(a)[0] for a in answers] == [4, 3, 2, 1, 0]  # a 400 counts: the key was known
    assert all(1 <= left(a)[1] <= WINDOW for a in answers)
    doc = reference(http)
    declared = doc["paths"]["/api/v1/shops/{shop_id}/recommendations/trending"]["get"][
        "responses"]["200"]["headers"]
    for name in ("RateLimit", "RateLimit-Policy"):
        assert Draft202012Validator(declared[name]["schema"]).is_valid(answers[0].headers[name])


def test_refusals_of_the_key_carry_no_rate_and_are_not_counted(http, store, make_shop) -> None:
    shop, other = make_shop(), make_shop()
    shop_id = limited(store, shop, 5).shop.shop_id
    reader = store.run(lambda r: create_key(r, shop_id, "metrics only", ["lifecycle:read"]))
    within_one_window()
    refused = [http.get(trending(shop_id)),  # no key: 401
               http.get(trending(shop_id), headers=bearer("sk_nope")),  # 401
               http.get(trending(shop_id), headers=auth(other)),  # another shop's: 403
               http.get(trending(shop_id), headers=bearer(reader.secret)),  # no scope: 403
               http.get(trending("no-such-shop"), headers=auth(shop))]  # 404
    assert [a.status_code for a in refused] == [401, 401, 403, 403, 404]
    assert all("ratelimit" not in a.headers for a in refused)
    assert left(http.get(trending(shop_id), headers=auth(shop)))[0] == 4
    metrics = http.get(f"/api/v1/shops/{shop_id}/lifecycle/metrics",
                       headers=bearer(reader.secret))
    assert metrics.status_code == 200 and left(metrics)[0] == 4  # its 403 did not count


def test_over_the_limit_a_429_with_retry_after_and_nothing_stored(http, store, shop) -> None:
    shop_id = limited(store, shop, 2).shop.shop_id
    url = EXCLUSIONS.format(shop_id=shop_id)
    within_one_window()
    stored = [http.put(url, json={"product_ids": [p]}, headers=auth(shop)) for p in ("1", "2")]
    assert [a.status_code for a in stored] == [200, 200]
    over = http.put(url, json={"product_ids": ["3"]}, headers=auth(shop))
    assert over.status_code == 429, over.text
    assert over.headers["content-type"] == "application/problem+json"
    remaining, reset = left(over)
    assert remaining == 0 and 1 <= reset <= WINDOW
    assert over.headers["retry-after"] == str(reset)
    assert over.headers["ratelimit-policy"] == '"default";q=2;w=60'
    detail = over.json()["detail"]
    assert "may make 2 calls every 60 seconds" in detail and f"retry in {reset} s" in detail
    assert schema_errors(reference(http), "PUT", EXCLUSIONS, over) == []
    assert store.run(lambda r: excluded(r, shop_id)) == ["2"]  # the handler did not run
    read = http.get(url, headers=auth(shop))  # reading counts against the same budget
    assert read.status_code == 429 and schema_errors(reference(http), "GET", EXCLUSIONS,
                                                     read) == []


def test_each_key_of_a_shop_has_a_budget_of_its_own(http, store, shop) -> None:
    shop_id = limited(store, shop, 2).shop.shop_id
    second = store.run(lambda r: create_key(r, shop_id, "storefront",
                                            ["recommendations:read"]))
    within_one_window()
    first = [http.get(trending(shop_id), headers=auth(shop)).status_code for _ in range(3)]
    assert first == [200, 200, 429]
    other = http.get(trending(shop_id), headers=bearer(second.secret))
    assert other.status_code == 200 and left(other)[0] == 1


@pytest.fixture
def short_windows(monkeypatch: pytest.MonkeyPatch, store: Store) -> Iterator[str]:
    """A server of its own whose API windows last 2 seconds, 2 calls each (the setting's
    default, no shop limit): a window's end within a test's time."""
    monkeypatch.setattr(keys, "API_RATE_WINDOW_SECONDS", 2)
    with LiveServer(settings_for(store, api_rate_per_minute=2, run_worker=False)) as url:
        yield url


def test_the_window_ends_when_retry_after_says(short_windows, shop) -> None:
    with httpx.Client(base_url=short_windows, timeout=30) as client:
        time.sleep(2 - time.time() % 2 + 0.02)  # at the start of a window
        answers = [client.get(trending(shop.shop.shop_id), headers=auth(shop))
                   for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["ratelimit-policy"] == '"default";q=2;w=2'
        wait = int(answers[2].headers["retry-after"])
        assert 1 <= wait <= 2
        time.sleep(wait)
        again = client.get(trending(shop.shop.shop_id), headers=auth(shop))
    assert again.status_code == 200 and left(again)[0] == 1


# ---- across processes -------------------------------------------------------------------------


@pytest.fixture
def own_data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-rate-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pinned(url: str, processes: int) -> dict[int, httpx.Client]:
    """A kept-alive client per web process (a new connection lands on any of them)."""
    found: dict[int, httpx.Client] = {}
    deadline = time.monotonic() + 60
    while len(found) < processes:
        assert time.monotonic() < deadline, f"only processes {sorted(found)} answered"
        client = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1))
        pid = process_of(client)
        if pid in found:
            client.close()
        else:
            found[pid] = client
    return found


def test_a_limit_set_with_the_cli_holds_across_web_processes(own_data_dir: Path) -> None:
    embedded = EmbeddedRedis(own_data_dir, fsync_always=False)
    own = Store(embedded, settings_for_dir(own_data_dir))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    new = own.run(lambda r: add_shop(r, "rated", "shopify", "rated.myshopify.com", url))
    path = trending("rated")
    env = {**command_env(own_data_dir), "SHOPRECO_RUN_WORKER": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "plugin.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env, stderr=subprocess.PIPE, text=True)
    clients: dict[int, httpx.Client] = {}
    try:
        wait_healthy(url, server)
        clients = pinned(url, 2)
        for client in clients.values():  # both hold the shop, under the setting's default
            assert client.get(path, headers=auth(new)).headers["ratelimit-policy"] == \
                '"default";q=600;w=60'
        done = subprocess.run([sys.executable, "-m", "plugin.cli", "shops", "rate-limit",
                               "rated", "--per-minute", "4"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["api_rate_per_minute"] == 4

        def policies() -> set[str]:
            seen = {c.get(path, headers=auth(new)).headers["ratelimit-policy"]
                    for c in clients.values()}
            assert seen == {'"default";q=4;w=60'}
            return seen

        eventually(policies)  # every process, within the shop cache's refresh
        fresh = own.run(lambda r: create_key(r, "rated", "counted", ["recommendations:read"]))
        for client in clients.values():
            client.close()
        within_one_window(15)
        clients = pinned(url, 2)  # connections not idle past the server's keep-alive
        seen = []
        for n in range(6):  # alternating processes, each synced with Redis in between
            pid, client = list(clients.items())[n % 2]
            answer = client.get(path, headers=bearer(fresh.secret))
            assert process_of(client) == pid
            seen.append((answer.status_code, left(answer)[0]))
            time.sleep(1.0)
        # 4 allowed in all; the second process's first call is counted before it has read
        # the others' count (its first sync: plugin.store.ratelimit's bound), so it says 3 left
        assert seen == [(200, 3), (200, 3), (200, 1), (200, 0), (429, 0), (429, 0)], seen
    finally:
        for client in clients.values():
            client.close()
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
        embedded.close()
    assert server.returncode == 0, stderr[-3000:]
