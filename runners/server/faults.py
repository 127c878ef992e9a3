"""Deterministic fault injection for the simulator.

A fault is a pure function of ``(fault_seed, taskUUID, attempt)`` where ``attempt`` counts the POSTs
that carried that taskUUID, so a test that replays the same requests meets the same faults.

Faults come in two families, and the difference is what the client is charged:

- *before generation* (``http_429``, ``http_500``, ``http_503``, ``http_504``): the task is refused
  and nothing is paid; a retry with the same taskUUID is a fresh task.
- *after generation* (``drop``, ``stall``, ``malformed_json``, ``no_done``, ``duplicate_webhook``):
  the result exists and is paid; a retry with the same taskUUID gets ``conflictTaskUUID`` and
  ``getResponse`` returns the stored result.

``midstream_error`` breaks a stream after its first text: that generation is discarded, not paid.
Kinds that do not apply to a request (a stream fault on a sync request, a webhook fault without a
``webhookURL``) are not injected and not counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from runners.server.config import FAULT_KINDS

PRE_GENERATION = frozenset({"http_429", "http_500", "http_503", "http_504"})
STREAM_ONLY = frozenset({"midstream_error", "no_done"})
STATUS_OF = {"http_429": 429, "http_500": 500, "http_503": 503, "http_504": 504}
CODE_OF = {
    "http_429": "tooManyRequests",
    "http_500": "internalServerError",
    "http_503": "serviceUnavailable",
    "http_504": "timeoutExceeded",
}


def draw(fault_seed: int, task_uuid: str, attempt: int) -> float:
    """A uniform number in [0, 1) fixed by its arguments (stable across processes and runs)."""
    digest = hashlib.blake2b(f"{fault_seed}:{task_uuid}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def decide(rates: Mapping[str, float], fault_seed: int, task_uuid: str, attempt: int) -> str | None:
    """The fault kind for this attempt of this task, or None. Kinds share one draw, in FAULT_KINDS order."""
    if not rates:
        return None
    u = draw(fault_seed, task_uuid, attempt)
    edge = 0.0
    for kind in FAULT_KINDS:
        edge += rates.get(kind, 0.0)
        if u < edge:
            return kind
    return None
