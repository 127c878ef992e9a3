"""What a scorer is given and what it returns.

A scorer sees one result of one task: the answer text (reasoning kept apart, never scored as the
answer), why generation stopped, the sample it answers and the request that produced it. It returns
a ``Score``: a value, a pass/fail verdict when the scorer has one, and a short explanation a person
can read in a report. A scorer that fails on its own (a bug, a bad parameter, a judge that did not
answer) gives a ``Score`` with ``error`` set: that is neither a right nor a wrong answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from evals.records import Sample


@dataclass(frozen=True)
class ScorerInput:
    """One result to score."""

    text: str
    reasoning: str | None
    finish_reason: str | None
    sample: Sample
    request: dict[str, Any]
    result_index: int


@dataclass(frozen=True)
class JudgeCall:
    """One call a model-graded scorer made; stored apart from the run's own usage and cost."""

    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None  # USD; None when unknown, never 0 by default
    latency_s: float | None
    output: str | None
    error: str | None = None


@dataclass(frozen=True)
class Score:
    """The score of one result by one scorer.

    ``value`` is None only when the scorer itself failed (then ``error`` says why). ``passed`` is
    None for continuous scorers. ``answer`` is the answer the scorer extracted, when it extracts one,
    so several results of a task can be put to a majority vote; it is stored in ``scores.answer``.
    Give equal answers equal text (normalise them): the vote compares the text exactly.
    """

    value: float | None
    passed: bool | None
    explanation: str = ""
    error: str | None = None
    answer: str | None = None
    judge_calls: tuple[JudgeCall, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, passed: bool, explanation: str = "", answer: str | None = None) -> Score:
        """A pass/fail score (value 1.0 or 0.0)."""
        return cls(value=1.0 if passed else 0.0, passed=passed, explanation=explanation, answer=answer)

    @classmethod
    def failure(cls, error: str) -> Score:
        """The scorer could not score this result (not a wrong answer)."""
        return cls(value=None, passed=None, error=error)


BoundScorer = Callable[[ScorerInput], "Score | Awaitable[Score]"]
"""A scorer with its parameters applied: called once per result, possibly a coroutine function."""
