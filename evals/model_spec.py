"""Model spec files: the bounds, steps, allowed values, defaults and prices of one model, as data.

A spec lives in ``evals/specs/*.yaml`` (bundled) or any directory named by ``EVALS_SPEC_PATH``
(``os.pathsep``-separated). Both the suite validator and the local server check parameters here, so
the client refuses exactly what the server would.
"""

from __future__ import annotations

import math
import os
import reprlib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evals.errors import ConfigError

DEFAULT_MODEL = "alibaba:qwen@3.5-27b"


@dataclass(frozen=True)
class ParamSpec:
    """The rule for one parameter: its type and bounds."""

    name: str
    type: str  # int | float | string | string_list | enum | bool
    min: float | None = None
    max: float | None = None
    step: float | None = None
    values: tuple[Any, ...] = ()
    default: Any = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None

    def allowed(self) -> str:
        """A human description of what is allowed, for error messages."""
        if self.type == "enum":
            return "one of " + ", ".join(repr(v) for v in self.values)
        if self.type in ("int", "float"):
            text = f"{'an integer' if self.type == 'int' else 'a number'} from {_fmt(self.min)} to {_fmt(self.max)}"
            if self.step:
                text += f" in steps of {_fmt(self.step)}"
            return text
        if self.type == "string":
            return f"a string of {self.min_length or 0} to {self.max_length or 'any number of'} characters"
        if self.type == "string_list":
            return f"a list of at least {self.min_items or 0} strings"
        if self.type == "bool":
            return "true or false"
        return self.type

    def check(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else the reason (without the parameter name).

        The reason is built only on failure and shows ``value`` through a bounded repr, so a deeply
        nested or huge value neither recurses nor comes back whole."""
        if self.type == "bool":
            return None if isinstance(value, bool) else _not_allowed(value, self)
        if self.type == "enum":
            return None if value in self.values else _not_allowed(value, self)
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return _not_allowed(value, self)
            return self._check_range(value)
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return _not_allowed(value, self)
            if (reason := self._check_range(value)) is not None:
                return reason
            if self.step and not on_step(value, self.step):
                return f"{short_repr(value)} is off the step of {_fmt(self.step)}: expected {self.allowed()}"
            return None
        if self.type == "string":
            if not isinstance(value, str):
                return _not_allowed(value, self)
            if self.min_length is not None and len(value) < self.min_length:
                return _not_allowed(value, self)
            if self.max_length is not None and len(value) > self.max_length:
                return f"a string of {len(value)} characters is too long: expected {self.allowed()}"
            return None
        if self.type == "string_list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return _not_allowed(value, self)
            if self.min_items is not None and len(value) < self.min_items:
                return _not_allowed(value, self)
            return None
        return f"unknown parameter type {self.type!r} in the model spec"

    def _check_range(self, value: float) -> str | None:
        if self.min is not None and value < self.min:
            return _not_allowed(value, self)
        if self.max is not None and value > self.max:
            return _not_allowed(value, self)
        return None


_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlong = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 5


def short_repr(value: Any) -> str:
    """A repr of client input bounded in depth and length (``reprlib``), for error messages."""
    return _SHORT.repr(value)


def _not_allowed(value: Any, param: ParamSpec) -> str:
    return f"{short_repr(value)} is not allowed: expected {param.allowed()}"


def on_step(value: float, step: float) -> bool:
    """True when ``value`` is a whole number of ``step``s (with a tolerance for binary floats)."""
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-6


def snap(value: float, step: float) -> float:
    """Round ``value`` to the nearest step, returning the shortest decimal (0.30000000000000004 -> 0.3)."""
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    return round(round(value / step) * step, decimals + 2)


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Price:
    input_per_million_usd: float
    output_per_million_usd: float
    source: str = ""

    def cost(self, prompt_tokens: int | None, output_tokens: int | None) -> float | None:
        """USD for the given token counts; thinking tokens belong in ``output_tokens``. None if unknown."""
        if prompt_tokens is None or output_tokens is None:
            return None
        return (
            prompt_tokens * self.input_per_million_usd + output_tokens * self.output_per_million_usd
        ) / 1e6


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    context_tokens: int | None
    price: Price | None
    task: dict[str, ParamSpec] = field(default_factory=dict)
    settings: dict[str, ParamSpec] = field(default_factory=dict)
    path: str | None = None

    def setting_defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.settings.items() if p.default is not None}


def _parse_params(section: dict[str, Any] | None) -> dict[str, ParamSpec]:
    out: dict[str, ParamSpec] = {}
    for name, raw in (section or {}).items():
        raw = dict(raw)
        values = tuple(raw.pop("values", ()) or ())
        out[name] = ParamSpec(name=name, values=values, **raw)
    return out


def parse_spec(doc: dict[str, Any], path: str | None = None) -> ModelSpec:
    price = doc.get("price")
    return ModelSpec(
        id=doc["id"],
        name=doc.get("name", doc["id"]),
        context_tokens=doc.get("context_tokens"),
        price=Price(**price) if price else None,
        task=_parse_params(doc.get("task")),
        settings=_parse_params(doc.get("settings")),
        path=path,
    )


def _spec_sources() -> list[tuple[str, str]]:
    """(origin, yaml text) of every spec file: user directories first, then the bundled ones."""
    sources: list[tuple[str, str]] = []
    for directory in filter(None, os.environ.get("EVALS_SPEC_PATH", "").split(os.pathsep)):
        for file in sorted(Path(directory).glob("*.yaml")):
            sources.append((str(file), file.read_text(encoding="utf-8")))
    bundled = resources.files("evals").joinpath("specs")
    for entry in sorted(bundled.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            sources.append((f"evals/specs/{entry.name}", entry.read_text(encoding="utf-8")))
    return sources


@cache
def all_specs() -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    for origin, text in _spec_sources():
        try:
            spec = parse_spec(yaml.safe_load(text), origin)
        except Exception as exc:  # a broken spec file is a configuration error, not a traceback
            raise ConfigError(f"{origin}: invalid model spec: {exc}") from exc
        specs.setdefault(spec.id, spec)  # user directories win
    return specs


def get_spec(model_id: str) -> ModelSpec | None:
    """The spec of ``model_id``, or None when no spec file describes it."""
    return all_specs().get(model_id)


def load_spec(model_id: str) -> ModelSpec:
    spec = get_spec(model_id)
    if spec is None:
        known = ", ".join(sorted(all_specs()))
        raise ConfigError(f"no model spec for {model_id!r} (known: {known}); add a file to EVALS_SPEC_PATH")
    return spec
