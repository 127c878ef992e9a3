"""Remove reasoning that a model inlines in its answer as ``<think>…</think>``.

Some models (and OpenAI-compatible servers that do not split reasoning out) put their reasoning in
the answer text. Reasoning is never scored as the answer, so scorers strip it first by default.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_LEAD = re.compile(r"^[ \t]*(?:\r?\n[ \t]*)*\n")


def strip_think(text: str) -> str:
    """Return ``text`` without its reasoning blocks.

    Besides complete blocks, two truncated shapes occur in practice and are handled: an opening tag
    never closed (generation cut off by maxTokens while thinking: everything after it is reasoning)
    and a closing tag with no opening one (the chat template put ``<think>`` in the prompt: everything
    before it is reasoning).

    Text without any tag is returned unchanged: its leading indentation may matter (a code
    completion that continues a function body).
    """
    original = text
    text = _BLOCK.sub("", text)
    opened = _OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    closes = list(_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    if text == original:
        return text
    # Drop the blank lines the tags leave behind but keep the indentation of the first real line.
    lead = _LEAD.match(text)
    text = text[lead.end() :] if lead else text.lstrip()
    return text.rstrip()
