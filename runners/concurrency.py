"""Adaptive concurrency: an in-flight limit that backs off on throttling and grows back slowly.

The rule is additive-increase / multiplicative-decrease, as TCP does for the same reason: a shared
queue signals overload only by refusing work (429/503/504), and many clients must converge on a fair
share without talking to each other.

- Start at the configured limit (the maximum).
- On a throttling answer, halve the limit (never below 1). Answers to requests sent *before* the
  last cut describe the old load, so they do not cut again; one burst of 429s is one cut.
- After ``limit`` successes in a row of the current window, add one, never above the maximum.

The limit is an ``anyio.CapacityLimiter`` whose token count is changed in place: lowering it below
the number already borrowed is allowed and simply blocks new acquisitions until enough return.
Every change is appended to ``history`` (stored in the run's ``concurrency`` table).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio


@dataclass(frozen=True)
class LimitChange:
    """One point of the limit's history. ``t`` is ``time.perf_counter()`` seconds."""

    t: float
    limit: int
    in_flight: int
    reason: str  # start | throttled | grow


class AdaptiveLimiter:
    """An in-flight limit between 1 and ``maximum``; adaptive unless ``adaptive=False``."""

    def __init__(
        self,
        maximum: int,
        *,
        adaptive: bool = True,
        decrease_factor: float = 0.5,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if maximum < 1:
            raise ValueError(f"the concurrency maximum must be at least 1, got {maximum}")
        self.maximum = maximum
        self.adaptive = adaptive
        self.decrease_factor = decrease_factor
        self._clock = clock
        self._limiter = anyio.CapacityLimiter(maximum)
        self._successes = 0
        self._last_cut = float("-inf")
        self.cuts = 0
        self.history: list[LimitChange] = [LimitChange(clock(), maximum, 0, "start")]

    @property
    def limit(self) -> int:
        """The current limit."""
        return int(self._limiter.total_tokens)

    @property
    def in_flight(self) -> int:
        return self._limiter.borrowed_tokens

    async def acquire(self, borrower: object) -> None:
        """Wait for a slot for ``borrower`` (any object unique to one in-flight task)."""
        await self._limiter.acquire_on_behalf_of(borrower)

    def release(self, borrower: object) -> None:
        self._limiter.release_on_behalf_of(borrower)

    def on_throttled(self, sent_at: float) -> bool:
        """Report a throttling answer to a request sent at ``sent_at``; True when the limit was cut."""
        if not self.adaptive or sent_at < self._last_cut:
            return False
        self._last_cut = self._clock()
        self._successes = 0
        new = max(1, int(self.limit * self.decrease_factor))
        if new == self.limit:
            return False
        self._set(new, "throttled")
        self.cuts += 1
        return True

    def on_success(self) -> None:
        """Report a successful answer; grows the limit by one after a window of successes."""
        if not self.adaptive or self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self._set(self.limit + 1, "grow")

    def _set(self, value: int, reason: str) -> None:
        self._limiter.total_tokens = value
        self.history.append(LimitChange(self._clock(), value, self.in_flight, reason))
