from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("text", "target", "params", "passed"),
    [
        ("Paris", "Paris", {}, True),
        ("  paris \n", "Paris", {}, True),
        ("paris", "Paris", {"case_sensitive": True}, False),
        ("Paris.", "Paris", {}, False),
        ("Paris.", "Paris", {"strip_punctuation": True}, True),
        ("New   York", "new york", {}, True),
        ("New   York", "New York", {"normalize_whitespace": False}, False),
        ("Lyon", ["Paris", "Lyon"], {}, True),
        ("Ｐａｒｉｓ", "Paris", {}, True),  # full-width letters fold under NFKC
    ],
)
def test_exact_match(score: Any, text: str, target: Any, params: dict[str, Any], passed: bool) -> None:
    result = score("exact_match", text, params, target=target)
    assert result.passed is passed
    assert result.value == (1.0 if passed else 0.0)
    assert result.explanation


def test_target_field(score: Any) -> None:
    result = score("exact_match", "B", {"target_field": "label"}, fields={"label": "b"})
    assert result.passed is True


def test_missing_target_is_a_scorer_error(score: Any) -> None:
    result = score("exact_match", "x")
    assert result.value is None and "no target" in (result.error or "")
