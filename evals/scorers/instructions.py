"""Verifiable instructions (IFEval-style): checks a program can decide without a judge.

Each sample lists its instructions in a field (``instructions`` by default) as
``[{kind: word_count, params: {max: 50}}, {kind: lowercase}]``. The score's value is the share of
instructions followed (instruction-level accuracy) and it passes only when all are (prompt-level,
strict). Kinds and their parameters are listed in ``CHECKS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from evals.scorers.json_scorer import find_json
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput

_WORD = re.compile(r"\b\w+(?:['’-]\w+)*\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[.!?])[\"')\]]*$")
_BULLET = re.compile(r"^\s*[-*•]\s+\S", re.MULTILINE)

Check = Callable[..., tuple[bool, str]]


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def count_sentences(text: str) -> int:
    """Sentences end with ., ! or ?; a trailing fragment without one counts as a sentence too."""
    return len([s for s in _SENTENCE_END.split(text.strip()) if _WORD.search(s)])


def count_paragraphs(text: str) -> int:
    return len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()])


def count_bullets(text: str) -> int:
    return len(_BULLET.findall(text))


def _between(value: int, what: str, min: int | None = None, max: int | None = None) -> tuple[bool, str]:
    if min is None and max is None:
        raise ValueError(f"{what}: give min, max or both")
    ok = (min is None or value >= min) and (max is None or value <= max)
    want = " and ".join(f"{op} {n}" for op, n in ((">=", min), ("<=", max)) if n is not None)
    return ok, f"{value} {what}, want {want}"


def _contains_word(text: str, word: str) -> int:
    return len(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE))


def _word_count(text: str, *, min: int | None = None, max: int | None = None) -> tuple[bool, str]:
    return _between(count_words(text), "words", min, max)


def _sentence_count(text: str, *, min: int | None = None, max: int | None = None) -> tuple[bool, str]:
    return _between(count_sentences(text), "sentences", min, max)


def _paragraph_count(text: str, *, min: int | None = None, max: int | None = None) -> tuple[bool, str]:
    return _between(count_paragraphs(text), "paragraphs", min, max)


def _bullet_count(text: str, *, min: int | None = None, max: int | None = None) -> tuple[bool, str]:
    return _between(count_bullets(text), "bullets", min, max)


def _include_words(text: str, *, words: list[str]) -> tuple[bool, str]:
    missing = [w for w in words if not _contains_word(text, w)]
    return not missing, ("missing " + ", ".join(missing)) if missing else "all required words present"


def _forbid_words(text: str, *, words: list[str]) -> tuple[bool, str]:
    found = [w for w in words if _contains_word(text, w)]
    return not found, ("uses " + ", ".join(found)) if found else "no forbidden word"


def _keyword_frequency(
    text: str, *, word: str, min: int | None = None, max: int | None = None
) -> tuple[bool, str]:
    return _between(_contains_word(text, word), f"times {word!r}", min, max)


def _starts_with(text: str, *, prefix: str, case_sensitive: bool = False) -> tuple[bool, str]:
    head = text.lstrip()
    ok = head.startswith(prefix) if case_sensitive else head.casefold().startswith(prefix.casefold())
    return ok, f"starts with {head[: len(prefix) + 10]!r}"


def _ends_with(text: str, *, suffix: str, case_sensitive: bool = False) -> tuple[bool, str]:
    tail = text.rstrip()
    ok = tail.endswith(suffix) if case_sensitive else tail.casefold().endswith(suffix.casefold())
    return ok, f"ends with {tail[-(len(suffix) + 10) :]!r}"


def _lowercase(text: str) -> tuple[bool, str]:
    return text == text.lower(), "all lower case" if text == text.lower() else "has upper-case letters"


def _uppercase(text: str) -> tuple[bool, str]:
    return text == text.upper(), "all upper case" if text == text.upper() else "has lower-case letters"


def _json_format(text: str) -> tuple[bool, str]:
    try:
        find_json(text, extract=False)
    except ValueError:
        # A JSON answer inside one fenced block is still a JSON answer (IFEval accepts it too).
        stripped = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip(), flags=re.IGNORECASE)
        try:
            json.loads(stripped)
        except json.JSONDecodeError as exc:
            return False, f"not JSON: {exc.msg}"
    return True, "valid JSON"


def _no_commas(text: str) -> tuple[bool, str]:
    n = text.count(",")
    return n == 0, f"{n} commas"


def _wrapped_in_quotes(text: str) -> tuple[bool, str]:
    stripped = text.strip()
    ok = len(stripped) >= 2 and stripped[0] == stripped[-1] == '"'
    return ok, "wrapped in double quotes" if ok else "not wrapped in double quotes"


def _max_chars(text: str, *, max: int) -> tuple[bool, str]:
    return len(text) <= max, f"{len(text)} characters, want <= {max}"


CHECKS: dict[str, Check] = {
    "word_count": _word_count,  # min, max
    "sentence_count": _sentence_count,  # min, max
    "paragraph_count": _paragraph_count,  # min, max (blank-line separated)
    "bullet_count": _bullet_count,  # min, max (lines starting with "-", "*" or "•")
    "include_words": _include_words,  # words
    "forbid_words": _forbid_words,  # words
    "keyword_frequency": _keyword_frequency,  # word, min, max
    "starts_with": _starts_with,  # prefix, case_sensitive
    "ends_with": _ends_with,  # suffix, case_sensitive
    "lowercase": _lowercase,
    "uppercase": _uppercase,
    "json_format": _json_format,
    "no_commas": _no_commas,
    "wrapped_in_quotes": _wrapped_in_quotes,
    "max_chars": _max_chars,  # max
}


def parse_instruction(item: Any) -> tuple[str, dict[str, Any]]:
    """``{kind, params}`` (or ``{kind, ...params inline}``) -> (kind, params), checked."""
    if isinstance(item, str):
        item = {"kind": item}
    if not isinstance(item, dict) or "kind" not in item:
        raise ValueError(f"an instruction must be a mapping with a 'kind', not {item!r}")
    kind = item["kind"]
    if kind not in CHECKS:
        raise ValueError(f"unknown instruction kind {kind!r} (known: {', '.join(sorted(CHECKS))})")
    params = dict(item["params"]) if "params" in item else {k: v for k, v in item.items() if k != "kind"}
    return kind, params


def check_instruction(text: str, item: Any) -> tuple[bool, str]:
    """Whether ``text`` follows one instruction, and what was seen."""
    kind, params = parse_instruction(item)
    try:
        return CHECKS[kind](text, **params)
    except TypeError as exc:
        raise ValueError(f"instruction {kind}: {exc}") from None


@scorer("instructions")
def instructions(output: ScorerInput, *, field: str = "instructions") -> Score:
    """Share of the sample's instructions the answer follows; passes when it follows all."""
    items = output.sample.fields.get(field)
    if not isinstance(items, list) or not items:
        raise ValueError(f"sample {output.sample.id!r} has no instruction list in field {field!r}")
    failures: list[str] = []
    for item in items:
        ok, detail = check_instruction(output.text, item)
        if not ok:
            failures.append(f"{parse_instruction(item)[0]} ({detail})")
    followed = len(items) - len(failures)
    explanation = f"{followed}/{len(items)} followed"
    if failures:
        explanation += "; failed: " + "; ".join(failures)
    return Score(value=followed / len(items), passed=not failures, explanation=explanation)
