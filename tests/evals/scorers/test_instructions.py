from __future__ import annotations

from typing import Any

import pytest

from evals.scorers.instructions import CHECKS, check_instruction, count_bullets, count_sentences


def test_counts() -> None:
    assert count_sentences("One. Two! Three? four") == 4
    assert count_sentences("Dr. Smith arrived.") == 2  # the simple rule: an abbreviation ends a sentence
    assert count_bullets("- a\n* b\n• c\nnot - a bullet\n  - nested") == 4


@pytest.mark.parametrize(
    ("text", "instruction", "ok"),
    [
        ("one two three", {"kind": "word_count", "params": {"max": 3}}, True),
        ("one two three four", {"kind": "word_count", "params": {"max": 3}}, False),
        ("It's well-known.", {"kind": "word_count", "params": {"min": 2, "max": 2}}, True),
        ("A. B. C.", {"kind": "sentence_count", "params": {"min": 3, "max": 3}}, True),
        ("p1\n\np2\n\n\np3", {"kind": "paragraph_count", "params": {"min": 3, "max": 3}}, True),
        ("- a\n- b", {"kind": "bullet_count", "params": {"min": 3}}, False),
        (
            "Steam trains at the station",
            {"kind": "include_words", "params": {"words": ["steam", "station"]}},
            True,
        ),
        ("the stationery shop", {"kind": "include_words", "params": {"words": ["station"]}}, False),
        ("deep blue sea", {"kind": "forbid_words", "params": {"words": ["Blue"]}}, False),
        (
            "river, river and River",
            {"kind": "keyword_frequency", "params": {"word": "river", "min": 3}},
            True,
        ),
        ("  dear reader, hi", {"kind": "starts_with", "params": {"prefix": "Dear reader,"}}, True),
        ("Hi. Sweet dreams.\n", {"kind": "ends_with", "params": {"suffix": "Sweet dreams."}}, True),
        ("all lower 123", {"kind": "lowercase"}, True),
        ("Not lower", {"kind": "lowercase"}, False),
        ("LOUD!", {"kind": "uppercase"}, True),
        ('{"a": 1}', {"kind": "json_format"}, True),
        ('```json\n{"a": 1}\n```', {"kind": "json_format"}, True),
        ('Here: {"a": 1}', {"kind": "json_format"}, False),
        ("no commas here", {"kind": "no_commas"}, True),
        ('"quoted"', {"kind": "wrapped_in_quotes"}, True),
        ("short", {"kind": "max_chars", "params": {"max": 5}}, True),
        ("flat", {"kind": "max_chars", "max": 3}, False),  # params may be given inline
        ("x", "lowercase", True),  # a bare kind
    ],
)
def test_checks(text: str, instruction: Any, ok: bool) -> None:
    assert check_instruction(text, instruction)[0] is ok


def test_every_check_has_a_test_case() -> None:
    assert set(CHECKS) == {
        "word_count",
        "sentence_count",
        "paragraph_count",
        "bullet_count",
        "include_words",
        "forbid_words",
        "keyword_frequency",
        "starts_with",
        "ends_with",
        "lowercase",
        "uppercase",
        "json_format",
        "no_commas",
        "wrapped_in_quotes",
        "max_chars",
    }


def test_scorer_gives_instruction_and_prompt_level_results(score: Any) -> None:
    fields = {
        "instructions": [
            {"kind": "lowercase"},
            {"kind": "word_count", "params": {"max": 3}},
            {"kind": "no_commas"},
        ]
    }
    result = score("instructions", "far too many words, sadly", fields=fields)
    assert result.value == pytest.approx(1 / 3)
    assert result.passed is False
    assert "1/3 followed" in result.explanation and "word_count" in result.explanation
    assert score("instructions", "ok then", fields=fields).passed is True


def test_bad_instruction_is_a_scorer_error(score: Any) -> None:
    result = score("instructions", "x", fields={"instructions": [{"kind": "rhymes"}]})
    assert result.value is None and "unknown instruction kind" in (result.error or "")
    missing = score("instructions", "x", fields={"instructions": [{"kind": "word_count"}]})
    assert "give min, max" in (missing.error or "")
    assert score("instructions", "x").error is not None  # no instruction list at all
