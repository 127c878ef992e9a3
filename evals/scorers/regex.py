"""Extract the answer with a regular expression, then compare it with the target."""

from __future__ import annotations

import re
from typing import Literal

from evals.scorers.normalize import normalize, targets
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def compile_pattern(pattern: str, flags: str = "") -> re.Pattern[str]:
    """Compile ``pattern`` with flags given as letters (``"is"`` = IGNORECASE | DOTALL)."""
    value = 0
    for letter in flags:
        if letter not in _FLAGS:
            raise ValueError(f"unknown regex flag {letter!r} (known: {''.join(_FLAGS)})")
        value |= _FLAGS[letter]
    return re.compile(pattern, value)


@scorer("regex")
class RegexScorer:
    """``pattern`` finds the answer (group ``group``; by default the first group if there is one).

    With ``compare: true`` (the default) the extracted text must equal a target after normalisation;
    with ``compare: false`` a match alone passes (a format check). Unless ``case_sensitive``, the
    pattern itself ignores case too.
    """

    def __init__(
        self,
        pattern: str,
        *,
        group: int | str | None = None,
        flags: str = "",
        which: Literal["first", "last"] = "last",
        compare: bool = True,
        case_sensitive: bool = False,
        normalize_whitespace: bool = True,
        strip_punctuation: bool = False,
        target_field: str | None = None,
    ) -> None:
        regex = compile_pattern(pattern, flags)
        if not case_sensitive:
            # case_sensitive governs the whole match: the pattern finds "ANSWER: x" as well as
            # "Answer: x", as the comparison after it ignores case too.
            regex = re.compile(regex.pattern, regex.flags | re.IGNORECASE)
        self.regex = regex
        if group is None:
            group = 1 if self.regex.groups else 0
        if isinstance(group, int) and group > self.regex.groups:
            raise ValueError(f"pattern has {self.regex.groups} group(s), group {group} asked for")
        if which not in ("first", "last"):
            raise ValueError("which must be 'first' or 'last'")
        self.group = group
        self.which = which
        self.compare = compare
        self.options = {
            "case_sensitive": case_sensitive,
            "normalize_whitespace": normalize_whitespace,
            "strip_punctuation": strip_punctuation,
        }
        self.target_field = target_field

    def __call__(self, output: ScorerInput) -> Score:
        matches = list(self.regex.finditer(output.text))
        if not matches:
            return Score.of(False, f"no match for /{self.regex.pattern}/")
        match = matches[0] if self.which == "first" else matches[-1]
        extracted = match.group(self.group) or ""
        if not self.compare:
            return Score.of(True, f"matched {extracted!r}", answer=extracted)
        answer = normalize(extracted, **self.options)
        wanted = targets(output.sample, self.target_field)
        if any(normalize(t, **self.options) == answer for t in wanted):
            return Score.of(True, f"extracted {extracted!r}", answer=answer)
        return Score.of(False, f"extracted {extracted!r}, expected {wanted[0]!r}", answer=answer)
