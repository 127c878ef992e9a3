"""A user's own scorer function, named by import path: ``{name: python, params: {function: pkg.mod:func}}``.

The function is called like a registered scorer function, ``func(output, **params)`` with every
other parameter of the suite entry, and may return a ``Score``, a bool or a number.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from evals.scorers.registry import scorer
from evals.scorers.types import ScorerInput


def import_function(path: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (a dotted attribute path after the colon is allowed)."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"function must look like 'package.module:function', not {path!r}")
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{path} is not callable")
    return target  # type: ignore[no-any-return]


@scorer("python")
class PythonFunction:
    """Call ``function`` for every result, with the remaining parameters as keywords."""

    def __init__(self, function: str, **params: Any) -> None:
        self.path = function
        self.function = import_function(function)
        try:
            inspect.signature(self.function).bind(None, **params)
        except TypeError as exc:
            raise ValueError(f"{function}: {exc}") from None
        except ValueError:
            pass  # no signature to check (a builtin)
        self.params = params
        self.is_async = inspect.iscoroutinefunction(self.function)

    def __call__(self, output: ScorerInput) -> Any:
        return self.function(output, **self.params)
