"""The target appears somewhere in the answer."""

from __future__ import annotations

from evals.scorers.normalize import normalize, targets
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput


@scorer("includes")
def includes(
    output: ScorerInput,
    *,
    case_sensitive: bool = False,
    normalize_whitespace: bool = True,
    strip_punctuation: bool = False,
    require_all: bool = False,
    target_field: str | None = None,
) -> Score:
    """Pass when a target (or, with ``require_all``, every target of a list) is a substring of the answer."""
    options = {
        "case_sensitive": case_sensitive,
        "normalize_whitespace": normalize_whitespace,
        "strip_punctuation": strip_punctuation,
    }
    answer = normalize(output.text, **options)
    wanted = targets(output.sample, target_field)
    found = [t for t in wanted if normalize(t, **options) in answer]
    missing = [t for t in wanted if t not in found]
    passed = not missing if require_all else bool(found)
    if passed:
        return Score.of(True, "contains " + ", ".join(repr(t) for t in found))
    return Score.of(False, "missing " + ", ".join(repr(t) for t in missing))
