"""Open-loop arrivals: absolute schedules at a constant or seeded Poisson rate, and lag warnings."""

from __future__ import annotations

import itertools
import statistics

import pytest

from runners.schedule import LagMonitor, arrival_offsets


def take(n: int, it: object) -> list[float]:
    return list(itertools.islice(it, n))  # type: ignore[call-overload]


def test_constant_arrivals_do_not_drift() -> None:
    offsets = take(100_001, arrival_offsets(10.0))
    assert offsets[:3] == [0.0, 0.1, 0.2]
    assert offsets[100_000] == pytest.approx(10_000.0, abs=1e-9)


def test_poisson_arrivals_are_seeded_and_have_the_right_rate() -> None:
    a = take(20_000, arrival_offsets(50.0, "poisson", seed=3))
    b = take(20_000, arrival_offsets(50.0, "poisson", seed=3))
    c = take(20_000, arrival_offsets(50.0, "poisson", seed=4))
    assert a == b and a != c
    gaps = [y - x for x, y in itertools.pairwise(a)]
    assert statistics.fmean(gaps) == pytest.approx(1 / 50.0, rel=0.05)
    # Exponential gaps: the standard deviation equals the mean.
    assert statistics.pstdev(gaps) == pytest.approx(1 / 50.0, rel=0.05)


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        next(arrival_offsets(0.0))
    with pytest.raises(ValueError):
        next(arrival_offsets(1.0, "burst"))  # type: ignore[arg-type]


def test_lag_monitor_warns_only_when_many_requests_leave_late() -> None:
    mon = LagMonitor(rate=100.0)  # tolerance: one gap, 10 ms
    for _ in range(99):
        mon.observe(0.001)
    mon.observe(0.5)
    assert mon.warning() is None
    for _ in range(10):
        mon.observe(0.05)
    warning = mon.warning()
    assert warning is not None and "could not keep up" in warning and "11 of 110" in warning
