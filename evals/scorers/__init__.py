"""Scorers: turn one stored result into a score. See ``registry`` for how to add one."""

from evals.scorers.registry import (
    COMMON_PARAMS,
    PreparedScorer,
    available_scorers,
    get_scorer,
    prepare_scorer,
    scorer,
)
from evals.scorers.types import JudgeCall, Score, ScorerInput

__all__ = [
    "COMMON_PARAMS",
    "JudgeCall",
    "PreparedScorer",
    "Score",
    "ScorerInput",
    "available_scorers",
    "get_scorer",
    "prepare_scorer",
    "scorer",
]
