from __future__ import annotations

from typing import Any

import pytest

from evals.errors import ConfigError
from evals.scorers import Score, ScorerInput, prepare_scorer

from .conftest import make_input


def shouty(output: ScorerInput, *, min_ratio: float = 0.5) -> Score:
    letters = [c for c in output.text if c.isalpha()]
    ratio = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
    return Score(value=ratio, passed=ratio >= min_ratio, explanation=f"{ratio:.0%} upper case")


def is_long(output: ScorerInput) -> bool:
    return len(output.text) > 5


async def async_len(output: ScorerInput) -> float:
    return float(len(output.text))


def test_user_function_by_import_path(score: Any) -> None:
    path = f"{__name__}:shouty"
    result = score("python", "HELLO there", {"function": path, "min_ratio": 0.4})
    assert result.passed is True and result.explanation == "50% upper case"


def test_bool_result_and_async_function() -> None:
    assert prepare_scorer("python", {"function": f"{__name__}:is_long"}).score(make_input("long text")).passed
    result = prepare_scorer("python", {"function": f"{__name__}:async_len"}).score(make_input("abc"))
    assert result.value == 3.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"function": "no_colon_here"}, "package.module:function"),
        ({"function": "no.such.module:f"}, "No module named"),
        ({"function": f"{__name__}:missing"}, "missing"),
        ({"function": f"{__name__}:shouty", "bogus": 1}, "bogus"),
    ],
)
def test_bad_function_is_a_config_error(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        prepare_scorer("python", params)
