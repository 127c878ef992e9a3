"""Numeric answers (GSM-style word problems): extract the final number, compare within a tolerance."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Literal

from evals.scorers.normalize import targets
from evals.scorers.regex import compile_pattern
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput

# A number as people write it: optional sign and currency, thousands separators, decimals, an
# exponent, or a simple fraction (decimals allowed on either side). Thousands groups are only
# accepted in groups of three so that "1,2,3" stays three numbers. A number may be followed by
# letters ("12cm", "42nd") but not by more digits or a decimal part, so that a backtracked prefix of
# "1,234.5" or "12345" is never taken for a number of its own; a full stop that ends a sentence
# ("12.") is not a decimal point.
_END = r"(?!\d|\.\d|,\d{3}(?!\d))"
NUMBER = re.compile(
    r"(?<![\w.])[-−]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
    r"(?:\s*/\s*\d+(?:\.\d+)?)?" + _END + r"|(?<![\w.])[-−]?\.\d+" + _END
)
# Markers after which the final answer follows, strongest first. Each is searched for its last
# occurrence: a model that corrects itself ("Answer: 40 ... no, Answer: 42") means the later one.
# A marker with a group holds the answer inside it; otherwise the answer follows the marker.
_MARKERS = (
    re.compile(r"####"),
    re.compile(r"\\boxed\{([^{}]*)\}"),
    re.compile(r"final answer|\banswer\s*(?:is\b|[:=])", re.IGNORECASE),
)


def parse_number(token: str) -> float:
    """Parse one number token as found by ``NUMBER`` ("$1,234.50", "−3", "3/4", "1.5/2", "2e3").

    A fraction with a zero denominator raises ``ValueError``: it is not a number.
    """
    cleaned = token.replace("$", "").replace(",", "").replace("−", "-").replace(" ", "")
    if "/" in cleaned:
        numerator, denominator = (Fraction(part) for part in cleaned.split("/"))
        if denominator == 0:
            raise ValueError(f"{token!r} divides by zero")
        try:
            return float(numerator / denominator)
        except OverflowError:  # "1e400/2": as float("1e400") does, an infinite value, never a match
            return math.inf if numerator > 0 else -math.inf
    return float(cleaned)


def _numbers(text: str) -> list[str]:
    """The number tokens of ``text`` in order, leaving out those that are not numbers ("1/0")."""
    found = []
    for token in NUMBER.findall(text):
        try:
            parse_number(token)
        except ValueError:
            continue
        found.append(token)
    return found


def extract_number(text: str, how: Literal["auto", "last", "first"] = "auto") -> str | None:
    """The number token ``text`` gives as its answer, or None.

    ``auto`` looks after the last answer marker (``####``, ``\\boxed{}``, "the answer is") first and
    takes the first number there, else the last number of the text (where a worked solution ends).
    A marker followed by no number ("the answer is above") gives way to the one before it.
    """
    if how == "auto":
        for marker in _MARKERS:
            for match in reversed(list(marker.finditer(text))):
                region = match.group(1) if marker.groups else text[match.end() :]
                numbers = _numbers(region)
                if numbers:
                    return numbers[0]
    numbers = _numbers(text)
    if not numbers:
        return None
    return numbers[0] if how == "first" else numbers[-1]


def _target_value(raw: Any) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    token = extract_number(str(raw))
    if token is None:
        raise ValueError(f"target {raw!r} holds no number")
    return parse_number(token)


@scorer("numeric")
def numeric(
    output: ScorerInput,
    *,
    tolerance: float = 1e-6,
    rel_tolerance: float = 0.0,
    extract: Literal["auto", "last", "first"] = "auto",
    pattern: str | None = None,
    flags: str = "",
    target_field: str | None = None,
) -> Score:
    """Pass when the extracted number is within ``max(tolerance, rel_tolerance * |target|)`` of the target.

    ``pattern`` (a regex whose first group holds the answer) replaces the built-in extraction. A
    target written as a worked solution ("... #### 42") is reduced to its final number too.
    """
    if extract not in ("auto", "last", "first"):
        raise ValueError("extract must be auto, last or first")
    if pattern is not None:
        regex = compile_pattern(pattern, flags)
        found = list(regex.finditer(output.text))
        region = (found[-1].group(1 if regex.groups else 0) or "") if found else ""
        numbers = _numbers(region)
        token = numbers[0] if numbers else None
    else:
        token = extract_number(output.text, extract)
    if token is None:
        return Score.of(False, "no number in the answer")
    value = parse_number(token)
    sample = output.sample
    raw_targets: list[Any]
    if (
        target_field is None
        and isinstance(sample.target, int | float)
        and not isinstance(sample.target, bool)
    ):
        raw_targets = [sample.target]
    else:
        raw_targets = list(targets(sample, target_field))
    wanted = [_target_value(t) for t in raw_targets]
    answer = _format(value)
    for target in wanted:
        allowed = max(tolerance, rel_tolerance * abs(target))
        if math.isfinite(value) and abs(value - target) <= allowed:
            return Score.of(True, f"answer {answer} = {_format(target)}", answer=answer)
    return Score.of(False, f"answer {answer}, expected {_format(wanted[0])}", answer=answer)


def _format(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
