"""Outgoing HTTP to the platforms' APIs: one httpx client, timeouts, retries with backoff on
429 and 5xx (honouring Retry-After), and a rate limit per shop."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx

from plugin.web.body import decode_json

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class FetchError(Exception):
    """A platform API call failed for good; the message names the URL (never credentials)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimiter:
    """A token bucket: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class PlatformHttp:
    """GET/POST JSON from platform APIs for many shops, politely."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        rate_per_second: float = 2.0,
        burst: int = 10,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=True
        )
        self.rate_per_second, self.burst = rate_per_second, burst
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._limiters: dict[str, RateLimiter] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    def limiter(self, shop_id: str) -> RateLimiter:
        if shop_id not in self._limiters:
            self._limiters[shop_id] = RateLimiter(self.rate_per_second, self.burst)
        return self._limiters[shop_id]

    async def get_json(
        self, shop_id: str, url: str, *, params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None,
    ) -> Any:
        response = await self.request(shop_id, "GET", url, params=params, headers=headers,
                                      auth=auth)
        return decode_json(response.content)

    async def request(
        self, shop_id: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        """The response of the first attempt that is not a 429/5xx/transport error."""
        for attempt in range(1, self.max_attempts + 1):
            await self.limiter(shop_id).acquire()
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as error:
                if attempt == self.max_attempts:
                    raise FetchError(f"{method} {_safe(url)} failed: {type(error).__name__}") \
                        from None
                await asyncio.sleep(self._backoff(attempt))
                continue
            if response.status_code not in RETRY_STATUSES:
                if response.is_error:
                    raise FetchError(
                        f"{method} {_safe(url)} answered {response.status_code}",
                        response.status_code,
                    )
                return response
            if attempt == self.max_attempts:
                raise FetchError(
                    f"{method} {_safe(url)} still answered {response.status_code} after "
                    f"{attempt} attempts", response.status_code,
                )
            wait = retry_after_seconds(response.headers.get("retry-after"))
            await asyncio.sleep(min(self.backoff_cap, wait) if wait is not None
                                else self._backoff(attempt))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


_shared: list[PlatformHttp] = []


def shared_http() -> PlatformHttp:
    """One PlatformHttp for the callers that bring none (made at the first call)."""
    if not _shared:
        _shared.append(PlatformHttp())
    return _shared[0]


def _safe(url: str) -> str:
    """The URL without query string or user info: those may carry credentials."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, userinfo=b""))
