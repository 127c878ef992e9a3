"""API keys: where they come from, and how they are kept out of everything the harness writes.

A key is read from the process environment first, then from a ``.env`` file in the current
directory. The file is parsed with python-dotenv's ``dotenv_values`` so it is *not* exported into
``os.environ``: child processes and unrelated libraries never see a key they did not ask for.
"""

from __future__ import annotations

import os
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


class Redactor:
    """Replaces every known secret in a string. Secrets shorter than 4 characters are ignored.

    Very short values would redact ordinary words (a test key ``"a"`` would eat every ``a``), and a
    secret that short protects nothing anyway.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret(s))"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``."""
    return Redactor(secrets)(text)
