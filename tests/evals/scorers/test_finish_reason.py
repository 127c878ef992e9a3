from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(("reason", "passed"), [("stop", True), ("length", False), (None, False)])
def test_default_expects_stop(score: Any, reason: str | None, passed: bool) -> None:
    result = score("finish_reason", "text", finish_reason=reason)
    assert result.passed is passed


def test_counting_cut_off_answers(score: Any) -> None:
    result = score("finish_reason", "text", {"expect": "length"}, finish_reason="length")
    assert result.passed is True and "maxTokens" in result.explanation


def test_several_allowed(score: Any) -> None:
    params = {"expect": ["stop", "content_filter"]}
    assert score("finish_reason", "", params, finish_reason="content_filter").passed is True
