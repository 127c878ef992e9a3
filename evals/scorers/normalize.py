"""Text normalisation and target lookup shared by the matching scorers."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from typing import Any

from evals.records import Sample

_SPACE = re.compile(r"\s+")
_PUNCT = str.maketrans("", "", string.punctuation + "\u2018\u2019\u201c\u201d\u2013\u2014\u2026")


def normalize(
    text: str,
    *,
    case_sensitive: bool = False,
    normalize_whitespace: bool = True,
    strip_punctuation: bool = False,
) -> str:
    """Normalise ``text`` for comparison.

    Unicode is NFKC-folded first so that visually equal strings (full-width digits, ligatures)
    compare equal. Whitespace normalisation trims the ends and collapses inner runs to one space.
    """
    text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    if strip_punctuation:
        text = text.translate(_PUNCT)
    if normalize_whitespace:
        text = _SPACE.sub(" ", text).strip()
    return text


def targets(sample: Sample, target_field: str | None = None) -> list[str]:
    """The acceptable answers of ``sample`` as strings.

    ``target_field`` names a raw field of the sample to use instead of its mapped target. A list
    target means "any of these is right".
    """
    if target_field is not None:
        if target_field not in sample.fields:
            raise KeyError(f"sample {sample.id!r} has no field {target_field!r}")
        raw: Any = sample.fields[target_field]
    else:
        raw = sample.target
    if raw is None:
        raise ValueError(f"sample {sample.id!r} has no target to compare with")
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        return [str(raw)]
    return [str(item) for item in raw]
