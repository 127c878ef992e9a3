"""Retries: which failures are retried, and how long to wait before the next attempt.

Only transient failures are retried (``ApiError.retryable``: timeouts, resets, 5xx, throttling).
The wait is exponential backoff with *full jitter* (a uniform draw between 0 and the exponential
cap), which spreads retries of many clients hitting the same overloaded queue instead of having them
return in lock-step. A ``Retry-After`` the server sent wins over the draw when it is longer, however
long (``max_delay`` bounds only our own guesses); every task also has a deadline over all its
attempts, and the runner gives up on a task rather than wait past it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from evals.records import ApiError, ErrorClass
from evals.suite import Retries


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a task gets, and how long to wait between them."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 900.0  # seconds over all attempts of one task

    @classmethod
    def from_suite(cls, retries: Retries, task_deadline: float) -> RetryPolicy:
        """The policy a suite's ``target.retries`` and ``target.timeouts.task`` describe."""
        return cls(
            max_attempts=retries.max_attempts,
            base_delay=retries.base_delay,
            max_delay=retries.max_delay,
            deadline=task_deadline,
        )

    def backoff(self, retry_number: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        delay = rng.uniform(0.0, cap)
        if retry_after is not None and retry_after > delay:
            # The server knows its queue: coming back earlier than it asked only earns another 429.
            # Not capped at max_delay; the task deadline (checked by the runner) is the bound.
            delay = retry_after
        return delay

    def should_retry(self, error: ApiError, attempts_made: int) -> bool:
        """True when ``error`` is transient and the attempt budget of this task is not used up.

        A ``conflictTaskUUID`` answer is not an error to retry but a result to fetch; the runner
        handles it apart (it still counts as an attempt so a server that keeps answering conflict
        cannot loop forever).
        """
        if attempts_made >= self.max_attempts:
            return False
        return error.retryable or error.error_class is ErrorClass.CONFLICT
