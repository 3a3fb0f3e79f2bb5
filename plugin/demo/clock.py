"""Shop time: month arithmetic, EU (Central European) local timestamps, and the order clock
that draws times following a seasonal x weekday x hour-of-day intensity."""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400


def months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def default_end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@functools.lru_cache(maxsize=64)
def _summer_time(year: int) -> tuple[int, int]:
    """EU summer time for ``year`` as epoch seconds: last Sunday of March/October, 01:00 UTC."""

    def last_sunday(month: int) -> int:
        last_day = datetime(year, month, 31, 1, tzinfo=UTC)
        return int((last_day - timedelta(days=(last_day.weekday() + 1) % 7)).timestamp())

    return last_sunday(3), last_sunday(10)


def local_iso(epoch: int) -> str:
    """Shop-local (Central European) time with its offset, e.g. 2025-03-04T10:15:00+01:00."""
    moment = datetime.fromtimestamp(epoch, UTC)
    summer_start, summer_end = _summer_time(moment.year)
    offset = 2 if summer_start <= epoch < summer_end else 1
    return moment.astimezone(timezone(timedelta(hours=offset))).isoformat(timespec="seconds")


# fmt: off
_MONTH_FACTOR = np.array([0.85, 0.85, 0.95, 0.95, 0.95, 0.9, 0.85, 0.85, 1.0, 1.05, 1.4, 1.55])
_WEEKDAY_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 0.95, 0.85, 1.15])  # Monday first
_HOUR_FACTOR = np.array(
    [0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.0, 1.05,
     1.2, 1.15, 1.0, 0.95, 0.95, 1.0, 1.15, 1.35, 1.5, 1.45, 1.1, 0.6]
)
# fmt: on


def _hourly_intensity(start: datetime, n_hours: int) -> np.ndarray:
    """Relative order rate of each hour: season x weekday x time of day x slow growth."""
    hours = np.datetime64(start.replace(tzinfo=None), "h") + np.arange(n_hours)
    local = hours + np.timedelta64(1, "h")
    month = local.astype("datetime64[M]").astype(np.int64) % 12
    days = local.astype("datetime64[D]")
    day_of_month = (days - local.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7
    hour = local.astype(np.int64) % 24
    holidays = np.where((month == 11) & (day_of_month >= 23), 0.55, 1.0)
    black_friday = np.where((month == 10) & (day_of_month >= 23), 1.3, 1.0)
    growth = 0.85 + 0.3 * np.arange(n_hours) / max(n_hours, 1)
    intensity: np.ndarray = (
        _MONTH_FACTOR[month]
        * _WEEKDAY_FACTOR[weekday]
        * _HOUR_FACTOR[hour]
        * holidays
        * black_friday
        * growth
    )
    return intensity


class Clock:
    """Draws order times (epoch seconds) in [start, end) following the hourly intensity."""

    def __init__(self, rng: np.random.Generator, start: datetime, end: datetime) -> None:
        self.rng = rng
        self.start = int(start.timestamp())
        self.end = int(end.timestamp())
        n_hours = max((self.end - self.start) // SECONDS_PER_HOUR, 1)
        cumulative = np.cumsum(_hourly_intensity(start, n_hours))
        self.cumulative = cumulative / cumulative[-1]

    @property
    def span(self) -> int:
        return self.end - self.start

    def draw(self, count: int) -> list[int]:
        """``count`` sorted times following the intensity."""
        return self.at_quantiles(self.rng.random(count))

    def at_quantiles(self, quantiles: np.ndarray) -> list[int]:
        """Sorted times at the given quantiles of the intensity (a random second in the hour)."""
        last_hour = len(self.cumulative) - 1
        hours = np.minimum(np.searchsorted(self.cumulative, quantiles, side="right"), last_hour)
        seconds = self.rng.integers(0, SECONDS_PER_HOUR, len(hours))
        times = self.start + hours * SECONDS_PER_HOUR + seconds
        return sorted(int(t) for t in np.minimum(times, self.end - 1))
