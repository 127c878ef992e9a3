from __future__ import annotations

from typing import Any

import pytest

from evals.errors import ConfigError
from evals.scorers import prepare_scorer

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


def test_valid_json(score: Any) -> None:
    assert score("json", '{"a": 1}').passed is True
    assert score("json", "not json at all").passed is False


def test_extracts_from_fences_and_prose_unless_told_not_to(score: Any) -> None:
    fenced = 'Here:\n```json\n{"a": [1, 2]}\n```'
    assert score("json", fenced).passed is True
    assert score("json", 'Sure! {"a": 1} Hope it helps').passed is True
    assert score("json", fenced, {"extract": False}).passed is False


def test_schema_validation(score: Any) -> None:
    assert score("json", '{"name": "Ann", "age": 30}', {"schema": SCHEMA}).passed is True
    bad = score("json", '{"name": "Ann", "age": -1}', {"schema": SCHEMA})
    assert bad.passed is False and "age" in bad.explanation


def test_schema_from_sample_field(score: Any) -> None:
    fields = {"schema": SCHEMA}
    assert score("json", '{"name": "Bo"}', {"schema_field": "schema"}, fields=fields).passed is False


def test_invalid_schema_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="json.*no-such-type"):
        prepare_scorer("json", {"schema": {"type": "no-such-type"}})
