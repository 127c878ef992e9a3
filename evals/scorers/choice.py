"""Multiple choice: extract the letter the answer picks and compare it with the target letter."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput


def _letter_patterns(letters: str) -> list[tuple[re.Pattern[str], bool]]:
    """The ways an answer names its letter, strongest first, each with whether the last one counts."""
    cls = f"[{re.escape(letters)}]"
    return [
        # "the answer is (B)", "Answer: B", "correct option is B": the last one, as a model that
        # corrects itself means its final word
        (
            re.compile(rf"(?:answer|option|choice)\s*(?:is|:)?\s*[:\-]?\s*\(?({cls})\b\)?", re.IGNORECASE),
            True,
        ),
        # an answer that opens with the bare letter set apart: "B.", "B)", "B" alone on its line
        (re.compile(rf"\A\s*({cls})(?:[.):]|[ \t]*$)", re.MULTILINE), False),
        # "(B)" anywhere: the last one, since reasoning mentions the rejected options first
        # ("(A) is tempting but (B) is right")
        (re.compile(rf"\(({cls})\)"), True),
        # a line that starts with the letter: "B", "B.", "B) ...", "B because ..."
        (re.compile(rf"^\s*({cls})(?:[.):]|\s*$|\s)", re.MULTILINE), False),
        # a lone capital letter anywhere, as a last resort
        (re.compile(rf"\b({cls})\b"), False),
    ]


# Words that can follow a letter named as a choice but never the article "a" ("A is right", "A and
# C"), so "A is correct" stays a choice while "A spider has 8 legs" does not.
_NOT_AFTER_ARTICLE = frozenset(
    {"is", "was", "would", "will", "seems", "looks", "fits", "matches", "because", "since", "and", "or"}
)
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s|\n)\s*$")
_NEXT_WORD = re.compile(r" +([a-z]+)\b")


def extract_choice(text: str, letters: str) -> str | None:
    """The letter (upper case) that ``text`` picks among ``letters``, or None."""
    for pattern, last in _letter_patterns(letters):
        found = [m for m in pattern.finditer(text) if _is_letter_choice(m, text)]
        if found:
            return (found[-1] if last else found[0]).group(1).upper()
    return None


def _is_letter_choice(match: re.Match[str], text: str) -> bool:
    """Whether the matched letter names a choice rather than being the article "a"/"A".

    A lower-case letter counts only when set apart ("answer: b", "(b)"). An upper-case "A" that
    starts a sentence and is followed by a lower-case word is the article ("A spider has ...").
    """
    letter = match.group(1)
    after = text[match.end(1) :]
    if letter.islower():
        return after[:1] in ("", ")", ".", ":", "\n")
    if letter == "A" and _SENTENCE_START.search(text[: match.start(1)]):
        word = _NEXT_WORD.match(after)
        if word and word.group(1) not in _NOT_AFTER_ARTICLE:
            return False
    return True


def _target_letter(raw: Any, letters: str, options: Sequence[Any] | None) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return letters[raw]  # an index into the choices
    text = str(raw).strip()
    if len(text) == 1 and text.upper() in letters:
        return text.upper()
    # The target written as the text of a choice ("Paris" among the sample's choices).
    wanted = text.casefold()
    for index, option in enumerate(options or ()):
        if index < len(letters) and str(option).strip().casefold() == wanted:
            return letters[index]
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
    list has entries, else A-D. The target may be a letter, a text naming one, the text of one of
    the sample's choices, or a 0-based index.
    """
    sample = output.sample
    field = sample.fields.get(choices_field) if choices_field else None
    options = field if isinstance(field, list | tuple) and field else None
    if letters is None:
        letters = string.ascii_uppercase[: len(options) if options else 4]
    letters = letters.upper()
    raw = sample.fields.get(target_field) if target_field else sample.target
    if raw is None:
        raise ValueError(f"sample {sample.id!r} has no target")
    want = _target_letter(raw, letters, options)
    got = extract_choice(output.text, letters)
    if got is None:
        return Score.of(False, f"no choice among {letters} found")
    if got == want:
        return Score.of(True, f"chose {got}", answer=got)
    return Score.of(False, f"chose {got}, expected {want}", answer=got)
