"""The scorer registry: one decorator, one place to look a scorer up.

Adding a scorer is writing one module in this package (or anywhere imported before scoring) with a
decorated function or class::

    @scorer("shouty")
    def shouty(output: ScorerInput, *, min_ratio: float = 0.5) -> Score:
        ...

A function is called once per result with the result and the suite's ``params`` as keywords. A
class is instantiated once with the ``params`` and then called with each result, which suits
scorers with costly set-up (a compiled schema, a judge). Either may be ``async``. Parameters are
checked against the signature before any result is scored, so a typo in a suite fails fast.

Every module of this package is imported the first time the registry is consulted, so the
decorator is the only list of scorers there is.

Parameters every scorer accepts (handled here, not by each scorer):

- ``strip_think`` (default true): remove ``<think>…</think>`` blocks from the answer text first.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import anyio

from evals.errors import ConfigError
from evals.scorers.think import strip_think
from evals.scorers.types import Score, ScorerInput

T = TypeVar("T")

_REGISTRY: dict[str, Any] = {}
_LOADED = False
_LOAD_LOCK = threading.Lock()
# Modules of this package that define no scorer (imported anyway would be harmless, but skipping
# them keeps discovery cheap and the intent plain).
_NOT_SCORERS = frozenset({"registry", "types", "normalize", "think"})

COMMON_PARAMS = frozenset({"strip_think"})
"""Parameters every scorer accepts; they are applied by the registry."""

INJECTED_PARAMS = frozenset({"judge"})
"""Keyword arguments the harness supplies itself (a scorer that declares ``judge`` receives one)."""


def scorer(name: str) -> Callable[[T], T]:
    """Register a scorer function or class under ``name`` (as written in a suite's ``scorers``)."""

    def register(obj: T) -> T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not obj:
            where = f"{existing.__module__}.{existing.__qualname__}"
            raise ValueError(f"scorer name {name!r} is already registered by {where}")
        _REGISTRY[name] = obj
        return obj

    return register


def _load_builtins() -> None:
    global _LOADED
    if _LOADED:
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        package = importlib.import_module("evals.scorers")
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_") or info.name in _NOT_SCORERS:
                continue
            importlib.import_module(f"evals.scorers.{info.name}")
        _LOADED = True


def available_scorers() -> list[str]:
    """Names of every registered scorer, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_scorer(name: str) -> Any:
    """The function or class registered under ``name``; ``ConfigError`` names the known ones."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown scorer {name!r} (known: {known})") from None


def _check_params(name: str, target: Any, params: dict[str, Any], *, is_class: bool) -> None:
    """Refuse parameters the scorer does not declare, and missing required ones, before scoring."""
    reserved = sorted(set(params) & INJECTED_PARAMS)
    if reserved:
        raise ConfigError(f"scorer {name!r}: parameter {reserved[0]!r} is supplied by the harness")
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check against
    bindable = dict(params)
    for injected in INJECTED_PARAMS:
        if injected in signature.parameters:
            bindable[injected] = None
    try:
        if is_class:
            signature.bind(**bindable)
        else:
            signature.bind(None, **bindable)
    except TypeError as exc:
        accepted = [
            p.name
            for i, p in enumerate(signature.parameters.values())
            if (is_class or i > 0) and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        raise ConfigError(
            f"scorer {name!r}: {exc} (accepted parameters: {', '.join(accepted + sorted(COMMON_PARAMS))})"
        ) from None


def _coerce(result: Any) -> Score:
    """Let simple scorers return a bool or a number; anything else must be a ``Score``."""
    if isinstance(result, Score):
        return result
    if isinstance(result, bool):
        return Score.of(result)
    if isinstance(result, int | float):
        return Score(value=float(result), passed=None)
    raise TypeError(f"a scorer must return a Score, a bool or a number, not {type(result).__name__}")


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass
class PreparedScorer:
    """A scorer with its parameters applied, ready to score results one by one.

    Exceptions raised inside the scorer never escape: they become ``Score(error=...)`` for the one
    result being scored.
    """

    id: str  # how its scores are stored
    name: str
    params: dict[str, Any]
    call: Callable[[ScorerInput], Any]
    is_async: bool
    strip_think: bool = True

    def _prepare(self, output: ScorerInput) -> ScorerInput:
        if self.strip_think:
            return replace(output, text=strip_think(output.text))
        return output

    def score(self, output: ScorerInput) -> Score:
        """Score one result synchronously (an async scorer runs in its own event loop)."""
        if self.is_async:
            return anyio.run(self.ascore, output)
        try:
            return _coerce(self.call(self._prepare(output)))
        except Exception as exc:
            return Score.failure(_describe(exc))

    async def ascore(self, output: ScorerInput) -> Score:
        """Score one result; a synchronous scorer runs in a worker thread so the loop stays free."""
        if not self.is_async:
            return await anyio.to_thread.run_sync(self.score, output)
        try:
            result = self.call(self._prepare(output))
            if inspect.isawaitable(result):
                result = await result
            return _coerce(result)
        except Exception as exc:
            return Score.failure(_describe(exc))


def prepare_scorer(
    name: str,
    params: dict[str, Any] | None = None,
    *,
    scorer_id: str | None = None,
    judge: Any = None,
) -> PreparedScorer:
    """Look up ``name``, check ``params`` against its signature and bind them.

    Raises ``ConfigError`` for an unknown scorer, an unknown or missing parameter, or a class
    scorer whose constructor refuses its parameters.
    """
    params = dict(params or {})
    strip = params.pop("strip_think", True)
    if not isinstance(strip, bool):
        raise ConfigError(f"scorer {name!r}: strip_think must be true or false")
    target = get_scorer(name)
    is_class = inspect.isclass(target)
    _check_params(name, target, params, is_class=is_class)
    wants_judge = _accepts(target, "judge")
    extra = {"judge": judge} if wants_judge else {}
    call: Callable[[ScorerInput], Any]
    if is_class:
        try:
            instance = target(**params, **extra)
        except Exception as exc:  # any refusal of the parameters is the suite's error, found early
            raise ConfigError(f"scorer {name!r}: {exc}") from exc
        call = instance
        # A class may say for itself whether calls return coroutines (a wrapper of user code does).
        is_async = bool(getattr(instance, "is_async", inspect.iscoroutinefunction(type(instance).__call__)))
    else:
        bound = {**params, **extra}

        def call(output: ScorerInput, _f: Callable[..., Any] = target) -> Any:
            return _f(output, **bound)

        is_async = inspect.iscoroutinefunction(target)
    return PreparedScorer(
        id=scorer_id or name,
        name=name,
        params=params,
        call=call,
        is_async=is_async,
        strip_think=strip,
    )


def _accepts(target: Any, keyword: str) -> bool:
    try:
        return keyword in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
