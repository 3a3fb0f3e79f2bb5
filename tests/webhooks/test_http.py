"""PlatformHttp against a platform API simulated on 127.0.0.1: retries, Retry-After, errors that
hide credentials, and a rate limit per shop."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import free_port, run_async
from tests.platform_server import FakePlatformApi, Reply
from webhooks.http import FetchError, PlatformHttp, retry_after_seconds, shared_http


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


ORDERS = {"orders": []}


def fetch(url: str, shop_id: str = "s1", **options: Any) -> Any:
    """GET url as JSON through a fresh PlatformHttp with quick backoff (options override)."""
    async def work() -> Any:
        http = PlatformHttp(**{"backoff_base": 0.01, "backoff_cap": 5.0, **options})
        try:
            return await http.get_json(shop_id, url)
        finally:
            await http.aclose()

    return run_async(work)


def fetch_error(url: str, **options: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **options)
    return caught.value


def test_429_is_retried_after_retry_after_seconds(api: FakePlatformApi) -> None:
    api.reply("/orders", Reply(429, headers={"Retry-After": "1"}), ORDERS)
    assert fetch(f"{api.url}/orders") == ORDERS
    first, retry = api.seen
    assert retry.at - first.at >= 0.95


def test_retry_after_as_an_http_date_is_honoured(api: FakePlatformApi) -> None:
    target = math.ceil(time.time()) + 2  # a whole second, 2-3 s away
    later = email.utils.formatdate(target, usegmt=True)
    api.reply("/orders", Reply(503, headers={"Retry-After": later}), ORDERS)
    assert fetch(f"{api.url}/orders") == ORDERS
    # the retry waited for the date itself (quick backoff alone would end ~2 s before it),
    # however late a busy machine sent the first request
    assert time.time() >= target - 0.05
    first, retry = api.seen
    assert retry.at > first.at


def test_503_several_times_then_200_succeeds(api: FakePlatformApi) -> None:
    api.reply("/orders", Reply(503), Reply(503), Reply(503), ORDERS)
    assert fetch(f"{api.url}/orders", max_attempts=5) == ORDERS
    assert len(api.seen) == 4


def test_5xx_forever_fails_after_max_attempts_with_the_status(api: FakePlatformApi) -> None:
    api.reply("/orders", Reply(502))
    error = fetch_error(f"{api.url}/orders", max_attempts=3)
    assert error.status == 502
    assert "still answered 502 after 3 attempts" in str(error)
    assert len(api.seen) == 3


def test_404_fails_at_once(api: FakePlatformApi) -> None:
    api.reply("/orders/9", Reply(404, {"errorMessage": "no such order"}))
    error = fetch_error(f"{api.url}/orders/9", max_attempts=5)
    assert error.status == 404 and "answered 404" in str(error)
    assert len(api.seen) == 1


def test_unreachable_platform_fails_with_the_transport_error() -> None:
    error = fetch_error(f"http://127.0.0.1:{free_port()}/orders", max_attempts=2)
    assert error.status is None and "ConnectError" in str(error)


@pytest.mark.parametrize("answer", [404, 500, None], ids=["refused", "5xx", "unreachable"])
def test_error_message_never_shows_credentials(api: FakePlatformApi, answer: int | None) -> None:
    api.reply("/wp-json/wc/v3/orders", Reply(answer or 200))
    host = api.url.removeprefix("http://") if answer else f"127.0.0.1:{free_port()}"
    url = (f"http://ck_user:cs_pa55word@{host}/wp-json/wc/v3/orders"
           "?consumer_key=ck_user&consumer_secret=cs_pa55word&per_page=100")
    message = str(fetch_error(url, max_attempts=2))
    assert "/wp-json/wc/v3/orders" in message
    assert "pa55word" not in message and "ck_user" not in message and "@" not in message


def test_rate_limit_spaces_the_requests_of_one_shop(api: FakePlatformApi) -> None:
    api.reply("/orders", ORDERS)

    async def work() -> None:
        http = PlatformHttp(rate_per_second=5, burst=1)
        try:
            await asyncio.gather(*(http.get_json("s1", f"{api.url}/orders") for _ in range(6)))
        finally:
            await http.aclose()

    run_async(work)
    assert len(api.seen) == 6
    assert api.seen[-1].at - api.seen[0].at >= 0.95  # five waits of 1/5 s


def test_rate_limit_of_one_shop_does_not_slow_another(api: FakePlatformApi) -> None:
    api.reply("/busy", ORDERS)
    api.reply("/other", ORDERS)

    async def work() -> None:
        http = PlatformHttp(rate_per_second=5, burst=1)
        try:
            busy = [asyncio.create_task(http.get_json("busy", f"{api.url}/busy"))
                    for _ in range(6)]
            await asyncio.sleep(0)  # the busy shop's requests are queued first
            await asyncio.gather(http.get_json("other", f"{api.url}/other"), *busy)
        finally:
            await http.aclose()

    run_async(work)
    paths = [seen.path for seen in api.seen]
    assert sorted(paths) == ["/busy"] * 6 + ["/other"]
    assert paths[-1] == "/busy"  # the other shop was served before the busy shop finished


@pytest.mark.parametrize(("value", "seconds"), [
    ("1", 1.0), ("0", 0.0), (" 2.5 ", 2.5), ("-4", 0.0), (None, None), ("", None),
    ("soon", None),
])
def test_retry_after_seconds_reads_delta_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_seconds_reads_an_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC).timestamp()
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0


def test_retry_after_seconds_of_a_past_date_is_zero() -> None:
    now = datetime(2015, 10, 21, 8, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


def test_callers_without_a_client_share_one() -> None:
    assert shared_http() is shared_http()
    assert isinstance(shared_http(), PlatformHttp)
