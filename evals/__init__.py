"""Define: suite model, grid expansion, seeds, records, scorers and the run store.

The public names below are imported on first use (PEP 562), so ``import evals`` (and with it the
CLI's start-up) does not pay for pydantic, YAML parsing or the dataset machinery until needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evals.expand import iter_cells, iter_tasks, suite_hash
    from evals.plan import make_plan
    from evals.suite import Suite
    from evals.suite_loader import LoadedSuite, load_suite

_EXPORTS = {
    "LoadedSuite": "evals.suite_loader",
    "Suite": "evals.suite",
    "iter_cells": "evals.expand",
    "iter_tasks": "evals.expand",
    "load_suite": "evals.suite_loader",
    "make_plan": "evals.plan",
    "suite_hash": "evals.expand",
}

__all__ = [
    "LoadedSuite",
    "Suite",
    "iter_cells",
    "iter_tasks",
    "load_suite",
    "make_plan",
    "suite_hash",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'evals' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
