"""Shop time (plugin.demo.clock): month arithmetic, Central European local timestamps with the
right offset on either side of a clock change, and order times drawn in the span following the
seasonal x weekday x hour-of-day intensity, deterministic by seed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from plugin.demo.clock import Clock, as_utc, default_end, local_iso, months_before

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "months", "expected"), [
    (datetime(2025, 3, 31, 15, 30, tzinfo=UTC), 1, datetime(2025, 2, 28, 15, 30, tzinfo=UTC)),
    (datetime(2024, 3, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
    (datetime(2025, 1, 15, 8, tzinfo=UTC), 14, datetime(2023, 11, 15, 8, tzinfo=UTC)),
    (datetime(2025, 12, 31, tzinfo=UTC), 12, datetime(2024, 12, 31, tzinfo=UTC)),
    (datetime(2025, 5, 31, tzinfo=UTC), 0, datetime(2025, 5, 31, tzinfo=UTC)),
])
def test_months_before_clamps_to_the_months_last_day(moment, months, expected) -> None:
    assert months_before(moment, months) == expected


def test_a_naive_time_is_utc_and_an_aware_one_is_converted() -> None:
    assert as_utc(datetime(2025, 3, 1, 10)) == datetime(2025, 3, 1, 10, tzinfo=UTC)
    local = datetime(2025, 3, 1, 10, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(local) == datetime(2025, 3, 1, 8, tzinfo=UTC)
    assert as_utc(local).utcoffset() == timedelta(0)


def test_the_default_end_is_the_current_hour_in_utc() -> None:
    before = datetime.now(UTC)
    end = default_end()
    assert end.tzinfo is UTC and (end.minute, end.second, end.microsecond) == (0, 0, 0)
    assert before - timedelta(hours=1) < end <= datetime.now(UTC)


def epoch(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(("at", "shown"), [
    (epoch(2025, 1, 15, 12), "2025-01-15T13:00:00+01:00"),
    (epoch(2025, 7, 15, 12), "2025-07-15T14:00:00+02:00"),
    (epoch(2025, 3, 30, 0, 59, 59), "2025-03-30T01:59:59+01:00"),  # summer time begins
    (epoch(2025, 3, 30, 1), "2025-03-30T03:00:00+02:00"),
    (epoch(2025, 10, 26, 0, 59, 59), "2025-10-26T02:59:59+02:00"),  # and ends
    (epoch(2025, 10, 26, 1), "2025-10-26T02:00:00+01:00"),
    (epoch(2024, 3, 31, 1), "2024-03-31T03:00:00+02:00"),  # another year's last Sunday
    (epoch(2024, 3, 30, 1), "2024-03-30T02:00:00+01:00"),
])
def test_local_times_carry_the_central_european_offset(at: int, shown: str) -> None:
    assert local_iso(at) == shown
    assert datetime.fromisoformat(shown).timestamp() == at


def test_the_same_seed_draws_the_same_sorted_times_inside_the_span() -> None:
    first = Clock(np.random.default_rng(5), START, END).draw(2000)
    again = Clock(np.random.default_rng(5), START, END).draw(2000)
    other = Clock(np.random.default_rng(6), START, END).draw(2000)
    assert first == again != other
    assert first == sorted(first)
    assert START.timestamp() <= first[0] and first[-1] < END.timestamp()
    assert Clock(np.random.default_rng(5), START, END).span == END.timestamp() - START.timestamp()


def test_times_follow_the_day_the_week_and_the_season() -> None:
    times = Clock(np.random.default_rng(1), START, END).draw(60_000)
    local = [datetime.fromisoformat(local_iso(t)) for t in times]
    hours = Counter(moment.hour for moment in local)
    assert hours[20] > 8 * hours[3]  # evenings are busy, nights quiet
    weekdays = Counter(moment.weekday() for moment in local)
    assert weekdays[6] > weekdays[5]  # Sunday beats Saturday
    months = Counter(moment.month for moment in local if moment.year == 2024)
    assert months[12] > 1.3 * months[7] and months[11] > months[10]


def test_quantiles_map_to_the_first_and_last_hour_and_never_reach_the_end() -> None:
    clock = Clock(np.random.default_rng(2), START, START + timedelta(hours=10))
    low, high = clock.at_quantiles(np.array([0.0, 1.0]))
    assert START.timestamp() <= low < START.timestamp() + 3600
    assert START.timestamp() + 9 * 3600 <= high < START.timestamp() + 10 * 3600
    tiny = Clock(np.random.default_rng(2), START, START + timedelta(minutes=10))
    assert all(START.timestamp() <= t < START.timestamp() + 600 for t in tiny.draw(50))
