"""The settings grid: axes, ranges snapped to a parameter's step, zip groups, exclude and include rules.

Axis names (used in ``Cell.axes``, ``grid.zip`` and rules):

    settings.<name>   a Runware setting, from ``grid.settings.<name>`` (rules and zip groups may also
                      say just ``<name>``, e.g. ``temperature``)
    model             from ``grid.model``
    numberResults     from ``grid.numberResults``
    deliveryMethod    from ``grid.deliveryMethod``
    prompt            from ``grid.prompt`` (names of ``prompt.variants``; ``default`` is the top prompt)

Cells are the full product of the axes, except that the axes of one ``zip`` group vary together
(their lists must be equally long). A cell matching every key of an ``exclude`` rule is dropped.
Each ``include`` rule then adds one cell: the keys it names take its values, every other setting
keeps the suite's default (not a grid value). Points are produced lazily, one at a time.
"""

from __future__ import annotations

import itertools
import math
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evals.identity import normalise_float
from evals.model_spec import ModelSpec, snap
from evals.suite import RUNWARE_SETTINGS, Range, Settings, Suite

TOP_AXES = ("model", "numberResults", "deliveryMethod", "prompt")
DEFAULT_VARIANT = "default"

Issue = tuple[tuple[str | int, ...], str]
"""A problem found while building the grid: (key path in the suite document, message)."""


def axis_name(key: str) -> str | None:
    """The canonical axis name of ``key`` ("temperature" -> "settings.temperature"), None if unknown."""
    if key in TOP_AXES:
        return key
    bare = key.removeprefix("settings.")
    if bare in RUNWARE_SETTINGS:
        return f"settings.{bare}"
    return None


def known_axis_keys() -> list[str]:
    """Every spelling a rule or zip group may use, for did-you-mean hints."""
    return [*TOP_AXES, *RUNWARE_SETTINGS, *(f"settings.{s}" for s in RUNWARE_SETTINGS)]


def expand_range(values: Range, step: float | None) -> list[float]:
    """Inclusive ``from..to`` in steps of ``values.step``, each value snapped to the parameter ``step``.

    The small tolerance keeps ``{from: 0, to: 1.2, step: 0.2}`` from losing 1.2 to binary rounding.
    """
    count = math.floor((values.to - values.from_) / values.step + 1e-6) + 1
    out: list[float] = []
    for i in range(max(count, 0)):
        raw = values.from_ + i * values.step
        value = snap(raw, step) if step else normalise_float(raw)
        if not out or out[-1] != value:
            out.append(value)
    return out


def normalise_value(value: Any) -> Any:
    """Floats compared at 12 significant digits, so a rule's 0.3 matches an axis's snapped 0.3."""
    if isinstance(value, float) and not isinstance(value, bool):
        return normalise_float(value)
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(normalise_value(a) == normalise_value(b))


@dataclass(frozen=True)
class Axis:
    """One grid axis: its canonical name and its values (after range expansion)."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class GridPlan:
    """The grid of a suite, ready to be walked lazily."""

    axes: tuple[Axis, ...]
    factors: tuple[tuple[str, ...], ...]  # product factors: a zip group, or a single axis
    exclude: tuple[dict[str, Any], ...]
    include: tuple[dict[str, Any], ...]

    def axis(self, name: str) -> Axis:
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise KeyError(name)

    @property
    def axis_names(self) -> list[str]:
        return [a.name for a in self.axes]

    def product_size(self) -> int:
        """Cells of the full product, before exclusions and inclusions."""
        return math.prod(len(self.axis(group[0]).values) for group in self.factors)

    def _factor_values(self, group: tuple[str, ...]) -> list[dict[str, Any]]:
        columns = [self.axis(name).values for name in group]
        return [dict(zip(group, row, strict=True)) for row in zip(*columns, strict=True)]

    def excluded(self, point: dict[str, Any]) -> bool:
        return any(all(_same(point.get(k), v) for k, v in rule.items()) for rule in self.exclude)

    def product_points(self) -> Iterator[dict[str, Any]]:
        """Points of the product, in YAML order of the axes, excluded points skipped."""
        factors = [self._factor_values(group) for group in self.factors]
        for combo in itertools.product(*factors):
            point: dict[str, Any] = {}
            for part in combo:
                point.update(part)
            if not self.excluded(point):
                yield point

    def points(self) -> Iterator[tuple[dict[str, Any], bool]]:
        """(axis values, from an include rule) for every cell of the grid, lazily."""
        for point in self.product_points():
            yield point, False
        for rule in self.include:
            yield dict(rule), True


MAX_RANGE_VALUES = 100_000
"""A range expanding to more values than this is refused (before any value is produced)."""

# Settings the suite types as integers, for a model whose spec does not describe them.
_INT_SETTINGS = frozenset(
    name for name, info in Settings.model_fields.items() if int in typing.get_args(info.annotation)
)


def is_int_setting(spec: ModelSpec | None, name: str) -> bool:
    """Whether the Runware setting ``name`` takes integers: the spec's rule, else the suite's type."""
    param = spec.settings.get(name) if spec is not None else None
    if param is not None:
        return param.type == "int"
    return name in _INT_SETTINGS


def range_values(name: str, values: Range, spec: ModelSpec | None) -> tuple[list[Any], list[Issue]]:
    """The values of the range ``values`` of setting ``name``, or the problems that stop it expanding.

    An integer setting gets integers (a fractional ``from``, ``to`` or ``step`` is refused: the API
    would refuse 1.5 top-k tokens); a float setting gets floats snapped to the parameter's step. Issue
    paths are relative to the range (``("step",)``; ``()`` for the range as a whole).
    """
    bounds = (("from", values.from_), ("to", values.to), ("step", values.step))
    bad = [key for key, v in bounds if not math.isfinite(v)]
    if bad:
        return [], [((bad[0],), f"a range needs finite numbers, got {bad[0]} {dict(bounds)[bad[0]]}")]
    if values.to < values.from_:
        return [], [((), f"range goes down: from {values.from_} to {values.to}")]
    if is_int_setting(spec, name):
        issues: list[Issue] = [
            ((key,), f"{name} takes integers: a range of it needs integer from, to and step, not {key} {v}")
            for key, v in bounds
            if not float(v).is_integer()
        ]
        if issues:
            return [], issues
        start, stop, step = int(values.from_), int(values.to), int(values.step)
        count = (stop - start) // step + 1
        if count > MAX_RANGE_VALUES:
            return [], [((), f"range expands to {count} values; at most {MAX_RANGE_VALUES} allowed")]
        return list(range(start, stop + 1, step)), []
    param = spec.settings.get(name) if spec is not None else None
    param_step = param.step if param is not None and param.type == "float" else None
    if param_step is not None and not _on_step(values.step, param_step):
        return [], [
            (("step",), f"range step {values.step} is not a multiple of the parameter's step {param_step}")
        ]
    # Counted before expanding, so {from: 0, to: 1e12, step: 1} is refused instead of filling memory.
    count = math.floor((values.to - values.from_) / values.step + 1e-6) + 1
    if count > MAX_RANGE_VALUES:
        return [], [((), f"range expands to {count} values; at most {MAX_RANGE_VALUES} allowed")]
    return expand_range(values, param_step), []


def _rule(
    raw: dict[str, Any], where: tuple[str | int, ...], issues: list[Issue], axes: set[str] | None
) -> dict[str, Any]:
    import difflib

    rule: dict[str, Any] = {}
    if not raw:
        issues.append((where, "an empty rule matches every cell: name at least one axis"))
    for key, value in raw.items():
        name = axis_name(str(key))
        if name is None:
            close = difflib.get_close_matches(str(key), known_axis_keys(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            issues.append(((*where, key), f"unknown axis {key!r}{hint}"))
            continue
        if axes is not None and name not in axes:
            known = ", ".join(sorted(axes)) or "none"
            issues.append(((*where, key), f"{key!r} is not an axis of the grid (axes: {known})"))
            continue
        if name in rule:
            issues.append(((*where, key), f"axis {name!r} is named twice in one rule"))
            continue
        rule[name] = normalise_value(value)
    return rule


def build_grid(suite: Suite, spec: ModelSpec | None) -> tuple[GridPlan, list[Issue], list[str]]:
    """The grid of ``suite`` (ranges typed and snapped with ``spec``), its problems and its warnings."""
    issues: list[Issue] = []
    warnings: list[str] = []
    grid = suite.grid
    axes: list[Axis] = []

    def add(name: str, values: list[Any], where: tuple[str | int, ...]) -> None:
        unique: list[Any] = []
        # A set of the values seen keeps a 100000-value range linear; lists (stopSequences) are not
        # hashable and fall back to comparing with each value kept so far.
        seen_keys: set[tuple[bool, Any]] = set()
        for value in values:
            try:
                key = (isinstance(value, bool), normalise_value(value))
                duplicate = key in seen_keys
                seen_keys.add(key)
            except TypeError:
                duplicate = any(_same(value, seen) for seen in unique)
            if duplicate:
                warnings.append(f"{'.'.join(map(str, where))}: duplicate value {value!r} ignored")
                continue
            unique.append(normalise_value(value))
        axes.append(Axis(name, tuple(unique)))

    for key, values in grid.settings.items():
        where: tuple[str | int, ...] = ("grid", "settings", key)
        if key not in RUNWARE_SETTINGS:
            import difflib

            close = difflib.get_close_matches(key, list(RUNWARE_SETTINGS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            issues.append((where, f"unknown setting {key!r}{hint} (settings: {', '.join(RUNWARE_SETTINGS)})"))
            continue
        if isinstance(values, Range):
            expanded, range_issues = range_values(key, values, spec)
            issues.extend(((*where, *sub), message) for sub, message in range_issues)
            if not range_issues:
                add(f"settings.{key}", expanded, where)
        else:
            add(f"settings.{key}", list(values), where)
    for top in TOP_AXES:
        values_list = getattr(grid, top)
        if values_list is None:
            continue
        if not values_list:
            issues.append((("grid", top), "an axis needs at least one value"))
            continue
        add(top, list(values_list), ("grid", top))

    names = {a.name for a in axes}
    zipped: dict[str, int] = {}
    factors: list[tuple[str, ...]] = []
    for index, group in enumerate(grid.zip):
        where = ("grid", "zip", index)
        members: list[str] = []
        for j, key in enumerate(group):
            name = axis_name(key)
            if name is None or name not in names:
                known = ", ".join(sorted(names)) or "none"
                issues.append(((*where, j), f"{key!r} is not an axis of the grid (axes: {known})"))
                continue
            if name in zipped:
                issues.append(((*where, j), f"axis {name!r} is already in zip group {zipped[name]}"))
                continue
            zipped[name] = index
            members.append(name)
        if len(group) < 2:
            issues.append((where, "a zip group needs at least two axes"))
        lengths = {m: len(next(a for a in axes if a.name == m).values) for m in members}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{m} has {n}" for m, n in lengths.items())
            issues.append((where, f"zipped axes must have as many values each: {shown}"))
        elif members:
            factors.append(tuple(members))
    for axis in axes:
        if axis.name not in zipped:
            factors.append((axis.name,))
    # Keep the factors in the order the axes were written, whatever order the zip groups came in.
    order = {a.name: i for i, a in enumerate(axes)}
    factors.sort(key=lambda group: order[group[0]])

    exclude = tuple(_rule(r, ("grid", "exclude", i), issues, names) for i, r in enumerate(grid.exclude))
    include = tuple(_rule(r, ("grid", "include", i), issues, None) for i, r in enumerate(grid.include))
    return GridPlan(tuple(axes), tuple(factors), exclude, include), issues, warnings


def _on_step(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1


def axis_value_key(value: Any) -> tuple[int, Any]:
    """Sort key of one axis value that never compares across types: numbers by value, then text,
    then lists and mappings (in grid order: their JSON text has no meaningful order), then missing
    values last."""
    if value is None or (isinstance(value, float) and value != value):
        return (3, "")
    if isinstance(value, bool):
        return (1, str(value).lower())
    if isinstance(value, int | float):
        return (0, float(value))
    if isinstance(value, list | dict):
        return (2, "")
    return (1, str(value))


def axes_sort_key(axes: dict[str, Any], names: list[str] | None = None) -> tuple[Any, ...]:
    """Sort key of a cell from its axes: by the value of each axis in turn (``names``, default the
    cell's own order), so tables list a sweep as 0.2, 0.4, 0.8 instead of in hash order."""
    names = list(axes) if names is None else names
    return tuple(axis_value_key(axes.get(name)) for name in names)
