from __future__ import annotations

import pytest

from evals.errors import ConfigError
from evals.scorers import Score, ScorerInput, available_scorers, get_scorer, prepare_scorer, scorer
from evals.scorers import registry as registry_module

from .conftest import make_input

SHIPPED = {
    "choice",
    "code_exec",
    "exact_match",
    "finish_reason",
    "includes",
    "instructions",
    "json",
    "model_graded",
    "numeric",
    "python",
    "regex",
}


def test_every_shipped_scorer_is_registered() -> None:
    assert set(available_scorers()) >= SHIPPED


def test_unknown_scorer_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown scorer 'nope'.*exact_match"):
        get_scorer("nope")


def test_unknown_parameter_is_refused_before_scoring() -> None:
    with pytest.raises(ConfigError, match="exact_match.*accepted parameters"):
        prepare_scorer("exact_match", {"ignore_cse": True})


def test_missing_required_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="regex"):
        prepare_scorer("regex", {})


def test_class_scorer_with_bad_parameter_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="regex"):
        prepare_scorer("regex", {"pattern": "(a", "flags": ""})


def test_judge_is_not_a_suite_parameter() -> None:
    with pytest.raises(ConfigError, match="supplied by the harness"):
        prepare_scorer("model_graded", {"judge": "x"})


def test_a_raising_scorer_becomes_a_scorer_error_not_a_crash() -> None:
    @scorer("test_boom")
    def boom(output: ScorerInput) -> Score:
        raise RuntimeError("kaput")

    try:
        result = prepare_scorer("test_boom").score(make_input("x"))
        assert result.value is None and result.passed is None
        assert result.error == "RuntimeError: kaput"
    finally:
        registry_module._REGISTRY.pop("test_boom")


def test_bool_and_number_returns_are_coerced() -> None:
    @scorer("test_bool")
    def yes(output: ScorerInput, *, flag: bool = True) -> bool:
        return flag

    @scorer("test_number")
    def half(output: ScorerInput) -> float:
        return 0.5

    try:
        assert prepare_scorer("test_bool", {"flag": False}).score(make_input("x")) == Score.of(False)
        number = prepare_scorer("test_number").score(make_input("x"))
        assert number.value == 0.5 and number.passed is None
    finally:
        registry_module._REGISTRY.pop("test_bool")
        registry_module._REGISTRY.pop("test_number")


def test_name_cannot_be_registered_twice_by_different_objects() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @scorer("exact_match")
        def other(output: ScorerInput) -> Score:
            return Score.of(True)


def test_async_scorer_runs_from_sync_code() -> None:
    @scorer("test_async")
    async def later(output: ScorerInput) -> Score:
        return Score.of(output.text == "ok")

    try:
        prepared = prepare_scorer("test_async")
        assert prepared.is_async
        assert prepared.score(make_input("ok")).passed is True
    finally:
        registry_module._REGISTRY.pop("test_async")


def test_think_blocks_are_stripped_by_default_and_kept_on_request() -> None:
    text = "<think>the answer is 41</think>42"
    assert prepare_scorer("exact_match").score(make_input(text, target="42")).passed is True
    kept = prepare_scorer("exact_match", {"strip_think": False}).score(make_input(text, target="42"))
    assert kept.passed is False
