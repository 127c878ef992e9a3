"""Multiple choice: extract the letter the answer picks and compare it with the target letter."""

from __future__ import annotations

import re
import string
from typing import Any

from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput


def _letter_patterns(letters: str) -> list[re.Pattern[str]]:
    cls = f"[{re.escape(letters)}]"
    return [
        # "the answer is (B)", "Answer: B", "correct option is B"
        re.compile(rf"(?:answer|option|choice)\s*(?:is|:)?\s*[:\-]?\s*\(?({cls})\b\)?", re.IGNORECASE),
        # a line that starts with the letter: "B", "B.", "(B) ...", "B) ..."
        re.compile(rf"^\s*\(?({cls})(?:[.):]|\s*$|\s)", re.MULTILINE),
        # "(B)" anywhere
        re.compile(rf"\(({cls})\)"),
        # a lone capital letter anywhere, as a last resort
        re.compile(rf"\b({cls})\b"),
    ]


def extract_choice(text: str, letters: str) -> str | None:
    """The letter (upper case) that ``text`` picks among ``letters``, or None."""
    for number, pattern in enumerate(_letter_patterns(letters)):
        found = [m for m in pattern.finditer(text) if _is_letter_choice(m, text)]
        if found:
            return (found[-1] if number == 0 else found[0]).group(1).upper()
    return None


def _is_letter_choice(match: re.Match[str], text: str) -> bool:
    """A lower-case letter counts only when set apart ("answer: b", "(b)"): "a" is usually an article."""
    letter = match.group(1)
    if letter.isupper():
        return True
    after = text[match.end(1) : match.end(1) + 1]
    return after in ("", ")", ".", ":", "\n")


def _target_letter(raw: Any, letters: str) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return letters[raw]  # an index into the choices
    text = str(raw).strip()
    if len(text) == 1 and text.upper() in letters:
        return text.upper()
    found = extract_choice(text, letters)
    if found is None:
        raise ValueError(f"target {raw!r} names no choice among {letters}")
    return found


@scorer("choice")
def choice(
    output: ScorerInput,
    *,
    letters: str | None = None,
    choices_field: str | None = "choices",
    target_field: str | None = None,
) -> Score:
    """Pass when the extracted letter equals the target letter.

    The valid letters are ``letters`` when given, else as many as the sample's ``choices_field``
    list has entries, else A-D. The target may be a letter, a text naming one, or a 0-based index.
    """
    sample = output.sample
    if letters is None:
        options = sample.fields.get(choices_field) if choices_field else None
        count = len(options) if isinstance(options, list | tuple) and options else 4
        letters = string.ascii_uppercase[:count]
    letters = letters.upper()
    raw = sample.fields.get(target_field) if target_field else sample.target
    if raw is None:
        raise ValueError(f"sample {sample.id!r} has no target")
    want = _target_letter(raw, letters)
    got = extract_choice(output.text, letters)
    if got is None:
        return Score.of(False, f"no choice among {letters} found")
    if got == want:
        return Score.of(True, f"chose {got}", answer=got)
    return Score.of(False, f"chose {got}, expected {want}", answer=got)
