"""Named sample generators: ``dataset: {generator: NAME, params: {...}, seed: N}`` in a suite.

    @generator("arithmetic")
    def arithmetic(*, seed: int, n: int = 20, difficulty: int = 1) -> list[dict[str, Any]]: ...

A generator is a function of keyword arguments only, one of which is ``seed``; the others are its
``params``. Its signature is the one source of truth for which params exist and which are required,
so the suite loader can refuse an unknown param before anything runs. Each row it returns is a dict
of fields (conventionally ``id``, ``input`` and ``target``), mapped like any other dataset.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

GeneratorFn = Callable[..., Iterable[dict[str, Any]]]

_REGISTRY: dict[str, GeneratorSpec] = {}
# Modules that register the bundled generators, imported on first use to keep start-up cheap.
_BUNDLED = ("evals.generators.arithmetic", "evals.generators.humaneval")


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator and the params its signature accepts."""

    name: str
    fn: GeneratorFn
    params: dict[str, inspect.Parameter]

    @property
    def required(self) -> list[str]:
        return [n for n, p in self.params.items() if p.default is inspect.Parameter.empty]

    def check_params(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """(param name, problem) for each unknown or missing param; empty when the params fit."""
        problems: list[tuple[str, str]] = []
        for name in params:
            if name not in self.params:
                problems.append(
                    (name, f"unknown param {name!r} of generator {self.name!r}{_hint(name, self.params)}")
                )
        for name in self.required:
            if name not in params:
                problems.append((name, f"generator {self.name!r} needs param {name!r}"))
        return problems

    def __call__(self, params: dict[str, Any], seed: int) -> list[dict[str, Any]]:
        return list(self.fn(seed=seed, **params))


def _hint(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def generator(name: str) -> Callable[[GeneratorFn], GeneratorFn]:
    """Register ``fn`` under ``name``. Its params must be keyword-only and include ``seed``."""

    def register(fn: GeneratorFn) -> GeneratorFn:
        signature = inspect.signature(fn)
        params = dict(signature.parameters)
        if "seed" not in params:
            raise TypeError(f"generator {name!r} must accept a keyword argument 'seed'")
        del params["seed"]
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"generator {name!r} is already registered")
        _REGISTRY[name] = GeneratorSpec(name=name, fn=fn, params=params)
        return fn

    return register


def _load_bundled() -> None:
    for module in _BUNDLED:
        importlib.import_module(module)


def generator_names() -> list[str]:
    """Names of every registered generator."""
    _load_bundled()
    return sorted(_REGISTRY)


def get_generator(name: str) -> GeneratorSpec:
    """The generator registered as ``name``. Raises KeyError with a did-you-mean hint."""
    _load_bundled()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown generator {name!r}{_hint(name, _REGISTRY)} (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


__all__ = ["GeneratorSpec", "generator", "generator_names", "get_generator"]
