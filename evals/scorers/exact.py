"""Exact match of the whole answer with the target, after optional normalisation."""

from __future__ import annotations

from evals.scorers.normalize import normalize, targets
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput


@scorer("exact_match")
def exact_match(
    output: ScorerInput,
    *,
    case_sensitive: bool = False,
    normalize_whitespace: bool = True,
    strip_punctuation: bool = False,
    target_field: str | None = None,
) -> Score:
    """Pass when the answer equals a target (any of them, for a list target)."""
    options = {
        "case_sensitive": case_sensitive,
        "normalize_whitespace": normalize_whitespace,
        "strip_punctuation": strip_punctuation,
    }
    answer = normalize(output.text, **options)
    wanted = targets(output.sample, target_field)
    hit = next((t for t in wanted if normalize(t, **options) == answer), None)
    if hit is not None:
        return Score.of(True, f"matches {hit!r}", answer=answer)
    return Score.of(False, f"{_short(output.text)!r} is not {_one_of(wanted)}", answer=answer)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_of(wanted: list[str]) -> str:
    return repr(wanted[0]) if len(wanted) == 1 else "any of " + ", ".join(repr(w) for w in wanted)
