"""Helpers for scorer tests: build a ScorerInput and run one scorer by name."""

from __future__ import annotations

from typing import Any

import pytest

from evals.records import Sample
from evals.scorers import Score, ScorerInput, prepare_scorer


def make_input(
    text: str,
    *,
    target: Any = None,
    fields: dict[str, Any] | None = None,
    finish_reason: str | None = "stop",
    reasoning: str | None = None,
    request: dict[str, Any] | None = None,
) -> ScorerInput:
    sample = Sample(id="s1", input="question", target=target, fields=fields or {})
    return ScorerInput(
        text=text,
        reasoning=reasoning,
        finish_reason=finish_reason,
        sample=sample,
        request=request or {},
        result_index=0,
    )


def run_scorer(name: str, text: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Score:
    return prepare_scorer(name, params or {}).score(make_input(text, **kwargs))


@pytest.fixture
def score() -> Any:
    """``score(name, text, params, target=..., fields=...)`` -> Score."""
    return run_scorer
