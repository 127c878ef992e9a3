"""The target appears somewhere in the answer."""

from __future__ import annotations

import re

from evals.scorers.normalize import normalize, targets
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput


def _word_pattern(target: str) -> re.Pattern[str]:
    """``target`` as a whole word or number: not glued to letters or digits on either side.

    An edge is only checked where the target itself starts or ends with a letter or digit, so a
    target such as "$5" or "C++" still matches after a space or at the end. A number is not part of
    a longer one either: "5" is not found in "1.5" or "5,000".
    """
    left = right = ""
    if re.match(r"\w", target[0]):
        left = r"(?<!\w)" + (r"(?<!\d[.,])" if target[0].isdigit() else "")
    if re.match(r"\w", target[-1]):
        right = r"(?!\w)" + (r"(?![.,]\d)" if target[-1].isdigit() else "")
    return re.compile(left + re.escape(target) + right)


@scorer("includes")
def includes(
    output: ScorerInput,
    *,
    case_sensitive: bool = False,
    normalize_whitespace: bool = True,
    strip_punctuation: bool = False,
    require_all: bool = False,
    word: bool = False,
    target_field: str | None = None,
) -> Score:
    """Pass when a target (or, with ``require_all``, every target of a list) is a substring of the answer.

    With ``word`` a target must appear as a whole word or number ("5" is not found in "15", "cold"
    not in "scold").
    """
    options = {
        "case_sensitive": case_sensitive,
        "normalize_whitespace": normalize_whitespace,
        "strip_punctuation": strip_punctuation,
    }
    answer = normalize(output.text, **options)
    wanted = targets(output.sample, target_field)

    def present(target: str) -> bool:
        needle = normalize(target, **options)
        if word and needle:
            return _word_pattern(needle).search(answer) is not None
        return needle in answer

    found = [t for t in wanted if present(t)]
    missing = [t for t in wanted if t not in found]
    passed = not missing if require_all else bool(found)
    if passed:
        return Score.of(True, "contains " + ", ".join(repr(t) for t in found))
    return Score.of(False, "missing " + ", ".join(repr(t) for t in missing))
