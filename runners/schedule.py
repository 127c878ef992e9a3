"""Open-loop load: arrival times of requests at a fixed rate, constant or Poisson.

Arrivals are offsets from one origin, and the dispatcher sleeps until ``origin + offset`` (an
absolute schedule). Sleeping for the gap after each send instead would add every send's own cost to
the next gap and the rate would drift below the target. Poisson arrivals come from a seeded
generator, so two runs of the same suite offer the same load.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal

Arrival = Literal["constant", "poisson"]


def arrival_offsets(rate: float, arrival: Arrival = "constant", *, seed: int = 0) -> Iterator[float]:
    """Endless offsets in seconds from the schedule origin; the first request goes at 0.

    ``constant`` spaces requests exactly ``1/rate`` apart; ``poisson`` draws exponential gaps of
    mean ``1/rate`` from ``random.Random(seed)``.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if arrival == "constant":
        n = 0
        while True:
            # Multiply rather than accumulate so float error does not build up over a long run.
            yield n / rate
            n += 1
    elif arrival == "poisson":
        rng = random.Random(seed)
        t = 0.0
        while True:
            yield t
            t += rng.expovariate(rate)
    else:
        raise ValueError(f"unknown arrival process {arrival!r}")


class LagMonitor:
    """Counts how often dispatch runs late against the schedule, to warn that the harness is the limit.

    A request counts as late when it leaves more than ``tolerance`` seconds after its scheduled
    time; the default tolerance is one inter-arrival gap (at least 10 ms, below which the event
    loop's own timer resolution dominates).
    """

    def __init__(self, rate: float, tolerance: float | None = None) -> None:
        self.tolerance = tolerance if tolerance is not None else max(0.01, 1.0 / rate)
        self.count = 0
        self.late = 0
        self.max_delay = 0.0
        self.total_delay = 0.0

    def observe(self, delay: float) -> None:
        """Record the dispatch delay (actual minus scheduled time, seconds) of one request."""
        self.count += 1
        self.total_delay += max(0.0, delay)
        self.max_delay = max(self.max_delay, delay)
        if delay > self.tolerance:
            self.late += 1

    @property
    def late_fraction(self) -> float:
        return self.late / self.count if self.count else 0.0

    def warning(self, threshold: float = 0.05) -> str | None:
        """A message when more than ``threshold`` of the requests left late, else None."""
        if self.count == 0 or self.late_fraction <= threshold:
            return None
        return (
            f"the harness could not keep up with the open-loop rate: {self.late} of {self.count} requests "
            f"left more than {self.tolerance * 1000:.0f} ms late (worst {self.max_delay * 1000:.0f} ms, "
            f"mean {self.total_delay / self.count * 1000:.1f} ms); raise target.concurrency or lower target.rate"
        )
