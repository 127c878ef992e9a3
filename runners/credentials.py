"""API keys: where they come from, and how they are kept out of everything the harness writes.

A key is read from the process environment first, then from a ``.env`` file in the current
directory. The file is parsed with python-dotenv's ``dotenv_values`` so it is *not* exported into
``os.environ``: child processes and unrelated libraries never see a key they did not ask for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

REDACTED = "***"


def load_api_key(
    variable: str = "RUNWARE_API_KEY",
    *,
    env_file: str | Path | None = ".env",
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The value of ``variable`` from ``environ`` (default ``os.environ``), else from ``env_file``.

    Returns None when neither holds a non-empty value. Whitespace around the key is dropped because a
    trailing newline pasted into a ``.env`` file would otherwise make every request fail with 401.
    """
    env = os.environ if environ is None else environ
    value = env.get(variable)
    if not value and env_file is not None:
        path = Path(env_file)
        if path.is_file():
            value = dotenv_values(path).get(variable)
    value = (value or "").strip()
    return value or None


_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)

FRAGMENT = 6
"""A run of this many characters of a key found in server text is masked too: a server may echo
part of a key (or a cut may leave part of one), and six random characters already narrow a guess."""


class Redactor:
    """Replaces every known secret in a string. Secrets shorter than 4 characters are ignored.

    Very short values would redact ordinary words (a test key ``"a"`` would eat every ``a``), and a
    secret that short protects nothing anyway.

    Calling it (for text a server sent: error messages, codes, notes) removes whole secrets, any
    ``Bearer`` credential, and any run of ``FRAGMENT`` or more characters of a secret, so a key cut
    in two by a truncation, or half-echoed, leaves no usable piece. ``exact`` removes whole secrets
    only: it is for model output, which is scored and must not lose ordinary text that happens to
    look like a fragment.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        # Every FRAGMENT-long piece of every secret, found at every position (overlaps included, by
        # a lookahead) in one C-speed regex scan: error bodies can be large.
        grams = sorted({s[i : i + FRAGMENT] for s in self._secrets for i in range(len(s) - FRAGMENT + 1)})
        self._grams = re.compile("(?=(" + "|".join(map(re.escape, grams)) + "))") if grams else None

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def exact(self, text: str) -> str:
        """``text`` with every whole secret replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(self, text: str) -> str:
        if not self._secrets:
            return text
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, self.exact(text))
        return self._mask_fragments(text)

    def clip(self, text: str, limit: int) -> str:
        """At most ``limit`` characters of ``text``, scrubbed before the cut and again after it.

        Scrubbing first matters: cut first, and a key straddling the cut survives as a prefix that no
        longer matches the whole key.
        """
        return self(self(text)[:limit])

    def _mask_fragments(self, text: str) -> str:
        if self._grams is None:
            return text
        # Runs of characters covered by pieces of a secret (overlapping pieces join into one run).
        spans: list[list[int]] = []
        for match in self._grams.finditer(text):
            begin, stop = match.start(), match.start() + FRAGMENT
            if spans and begin <= spans[-1][1]:
                spans[-1][1] = stop
            else:
                spans.append([begin, stop])
        if not spans:
            return text
        out: list[str] = []
        position = 0
        for begin, stop in spans:
            out += [text[position:begin], REDACTED]
            position = stop
        out.append(text[position:])
        return "".join(out)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret(s))"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``."""
    return Redactor(secrets)(text)
