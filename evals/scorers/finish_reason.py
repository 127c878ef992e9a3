"""Why generation stopped: count answers cut off by maxTokens, filtered, or otherwise unfinished."""

from __future__ import annotations

from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput

_WHY = {
    "length": "cut off by maxTokens",
    "content_filter": "stopped by the content filter",
    "stop": "finished",
    "unknown": "the server did not say why",
}


@scorer("finish_reason")
def finish_reason(output: ScorerInput, *, expect: str | list[str] = "stop") -> Score:
    """Pass when the result's finishReason is one of ``expect``.

    The default (``stop``) makes the mean the share of complete answers; ``expect: length`` makes it
    the share of answers cut off by maxTokens.
    """
    allowed = [expect] if isinstance(expect, str) else list(expect)
    reason = output.finish_reason or "unknown"
    explanation = f"finishReason={reason} ({_WHY.get(reason, 'unrecognised')})"
    return Score.of(reason in allowed, explanation, answer=reason)
