"""Stable identities of cells and tasks, and the derivation of task seeds.

An identity is a short versioned hash over canonical JSON (sorted keys, no whitespace, floats
normalised) of everything that changes a model's output, and of nothing that does not:

    core id   model, message templates, settings, numberResults, fixed seed      (no delivery method)
    cell id   core id + deliveryMethod       ("c1-…": sync and stream cells stay distinct rows)
    task id   cell id + sample id + sample digest + seed index + replicate        ("t1-…")
    seed      suite seed + core id + sample id + seed index + replicate           (uint32)

The seed hangs off the *core* id so that the same sample gets the same seed under sync and stream
delivery, and off identities rather than positions so that adding, removing or reordering grid axes
(or YAML keys) leaves the seeds of the remaining tasks unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime
from typing import Any

from evals.model_spec import ModelSpec, snap
from evals.records import IDENTITY_VERSION

_ID_BYTES = 8  # 16 hex characters: collisions are negligible for any realistic grid


def normalise_float(value: float) -> float:
    """12 significant digits, so 0.1 + 0.2 and 0.3 hash alike even without a known step."""
    if not math.isfinite(value):
        return value
    return float(f"{value:.12g}")


def _normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        # An integral float hashes like the integer, so `1` and `1.0` in a YAML file are one value.
        value = normalise_float(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def canonical_json(value: Any) -> str:
    """Deterministic JSON of ``value``: sorted keys, compact, floats normalised."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(value: Any, size: int = _ID_BYTES) -> bytes:
    return hashlib.blake2b(canonical_json(value).encode("utf-8"), digest_size=size).digest()


def make_id(prefix: str, value: Any) -> str:
    """``<prefix><IDENTITY_VERSION>-<16 hex>`` over the canonical JSON of ``value``."""
    return f"{prefix}{IDENTITY_VERSION}-{_digest(value).hex()}"


def normalise_settings(settings: dict[str, Any], spec: ModelSpec | None) -> dict[str, Any]:
    """Drop unset settings and snap floats to the parameter's step, so requests and hashes agree.

    Snapping is what makes ``{from: 0, to: 1, step: 0.1}`` produce ``0.3`` and not
    ``0.30000000000000004``, in the request sent as well as in the identity.
    """
    out: dict[str, Any] = {}
    for name, value in settings.items():
        if value is None:
            continue
        param = spec.settings.get(name) if spec is not None else None
        if param is not None and param.type == "float" and isinstance(value, int | float):
            if isinstance(value, bool):
                out[name] = value
                continue
            value = float(value)
            out[name] = snap(value, param.step) if param.step else normalise_float(value)
        elif isinstance(value, float):
            out[name] = normalise_float(value)
        else:
            out[name] = value
    return out


def core_id(
    model: str,
    messages: list[dict[str, str]],
    settings: dict[str, Any],
    number_results: int,
    fixed_seed: int | None,
) -> str:
    """Identity of what changes the output of a cell, delivery method excluded."""
    return make_id(
        "k",
        {
            "model": model,
            "messages": messages,
            "settings": settings,
            "numberResults": number_results,
            "seed": fixed_seed,
        },
    )


def cell_id(core: str, delivery_method: str) -> str:
    """Identity of a cell: its core plus how results are delivered."""
    return make_id("c", {"core": core, "deliveryMethod": delivery_method})


def sample_digest(sample_fields: dict[str, Any], input_: Any, target: Any) -> str:
    """Digest of a sample's content, so a changed row under the same id is a different task."""
    return _digest({"fields": sample_fields, "input": input_, "target": target}).hex()


class TaskKeys:
    """Task ids and seeds of one (cell, sample) pair, for every seed index and replicate.

    Built from fixed, unambiguous strings (the sample id JSON-quoted) rather than canonical JSON,
    with the shared prefix formatted once: this runs once per task, and a million tasks must expand
    in seconds.
    """

    __slots__ = ("_seed", "_task")

    def __init__(self, suite_seed: int, core: str, cell: str, sample_id: str, digest: str):
        quoted = json.dumps(sample_id)
        self._task = f"task|{cell}|{quoted}|{digest}|"
        self._seed = f"seed|{suite_seed}|{core}|{quoted}|"

    def task_id(self, seed_index: int, replicate: int) -> str:
        payload = f"{self._task}{seed_index}|{replicate}".encode()
        return f"t{IDENTITY_VERSION}-{hashlib.blake2b(payload, digest_size=_ID_BYTES).hexdigest()}"

    def seed(self, seed_index: int, replicate: int) -> int:
        payload = f"{self._seed}{seed_index}|{replicate}".encode()
        return int.from_bytes(hashlib.blake2b(payload, digest_size=4).digest(), "big")


def task_id(cell: str, sample_id: str, digest: str, seed_index: int, replicate: int) -> str:
    """Identity of one task: a cell applied to one sample (id and content), one seed, one replicate."""
    return TaskKeys(0, "", cell, sample_id, digest).task_id(seed_index, replicate)


def derive_seed(suite_seed: int, core: str, sample_id: str, seed_index: int, replicate: int) -> int:
    """A uint32 seed (0..4294967295) from identities only: positions in the grid play no part."""
    return TaskKeys(suite_seed, core, "", sample_id, "").seed(seed_index, replicate)


def streaming_hash() -> Any:
    """A fresh hash object for digests built incrementally (the suite hash)."""
    return hashlib.blake2b(digest_size=_ID_BYTES)
