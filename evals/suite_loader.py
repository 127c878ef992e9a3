"""Loading a suite file: YAML with positions, ``extends``, ``${ENV}``, validation with located errors.

    read ──► parse (ruamel round-trip: keeps line/column) ──► plain data + position table
         ──► extends (deep merge, base first; cycles refused) ──► ${ENV} in endpoint fields
         ──► pydantic (Suite) ──► model-spec and cross-field checks ──► LoadedSuite

Every problem becomes a ``SuiteIssue`` naming the file, line, column and key path
(``grid.settings.temperature[3]``); all issues of a file are collected and raised together as one
``SuiteError``. No input, however broken, escapes as another exception.

YAML tags are refused outright (``!!python/object`` and friends): a suite is data, never code.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from evals.errors import ConfigError, SuiteError, SuiteIssue
from evals.model_spec import DEFAULT_MODEL, ModelSpec, ParamSpec, get_spec
from evals.suite import (
    GATE_RATIO_METRICS,
    MAX_SEED,
    RUNWARE_SETTINGS,
    MetricGate,
    Range,
    ScorerRef,
    Suite,
    scorer_ids,
)

if typing.TYPE_CHECKING:
    from evals.grid import GridPlan

Path_ = tuple[str | int, ...]
Pos = tuple[str, int, int]  # file, 1-based line, 1-based column

MAX_CELLS = 1_000_000
"""A grid with more cells than this is refused: cells (unlike tasks) are deduplicated in memory."""

# Fields where ${ENV_VAR} is expanded; everywhere else "${...}" is literal text.
ENV_FIELDS: tuple[Path_, ...] = (("target", "endpoint"), ("target", "webhook", "public_url"))
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Types of the Runware settings, for models that have no spec file (then only types are checked).
_TYPE_ONLY: dict[str, ParamSpec] = {
    **{
        name: ParamSpec(name=name, type="float")
        for name in (
            "temperature",
            "topP",
            "minP",
            "frequencyPenalty",
            "presencePenalty",
            "repetitionPenalty",
        )
    },
    "topK": ParamSpec(name="topK", type="int"),
    "maxTokens": ParamSpec(name="maxTokens", type="int", min=1),
    "systemPrompt": ParamSpec(name="systemPrompt", type="string", min_length=1),
    "stopSequences": ParamSpec(name="stopSequences", type="string_list", min_items=1),
    "thinkingLevel": ParamSpec(name="thinkingLevel", type="string"),
    "numberResults": ParamSpec(name="numberResults", type="int", min=1),
    "seed": ParamSpec(name="seed", type="int", min=0, max=MAX_SEED),
    "deliveryMethod": ParamSpec(name="deliveryMethod", type="enum", values=("sync", "async", "stream")),
}


@dataclass(frozen=True)
class LoadedSuite:
    """A validated suite and where it came from."""

    suite: Suite
    path: Path
    text: str  # the merged document (after extends and ${ENV}) as YAML
    base_dir: Path  # relative dataset files are resolved from here
    warnings: list[str] = field(default_factory=list)
    # Where each value of the merged document was written, so problems found after loading (a
    # placeholder a sample lacks) can still be reported at a file, line and column.
    positions: dict[Path_, Pos] = field(default_factory=dict, compare=False, repr=False)

    def issue(self, path: Path_, message: str) -> SuiteIssue:
        """A located issue at ``path`` of the merged document (its nearest written ancestor)."""
        where: Pos | None = None
        for n in range(len(path), -1, -1):
            where = self.positions.get(path[:n])
            if where is not None:
                break
        file, line, col = where if where else (str(self.path), None, None)
        return SuiteIssue(file=file, line=line, column=col, path=format_path(path), message=message)


def format_path(path: Path_) -> str:
    """``("grid", "settings", "temperature", 3)`` -> ``grid.settings.temperature[3]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Doc:
    """Plain data of one merged document, and where each value (and each key) was written."""

    def __init__(self) -> None:
        self.values: dict[Path_, Pos] = {}
        self.keys: dict[Path_, Pos] = {}

    def locate(self, path: Path_, *, key: bool = False) -> Pos | None:
        if key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            pos = self.values.get(path[:n])
            if pos is not None:
                return pos
        return None


class _Collector:
    def __init__(self, file: str, doc: _Doc | None = None):
        self.file = file
        self.doc = doc or _Doc()
        self.issues: list[SuiteIssue] = []
        self.flagged: set[Path_] = set()
        self.nodes = 0  # values converted so far, against MAX_NODES
        # Values the parser refused (a YAML tag, say) and left as None: that None is not the user's
        # value, so validation errors about it would only repeat the parser's.
        self.dropped: set[Path_] = set()
        # An extends chain that could not be followed: keys the base would have given are missing
        # through no fault of the file, so "missing required key" would be noise.
        self.incomplete = False

    def add(self, path: Path_, message: str, *, key: bool = False, pos: Pos | None = None) -> None:
        where = pos or self.doc.locate(path, key=key)
        file, line, col = where if where else (self.file, None, None)
        issue = SuiteIssue(file=file, line=line, column=col, path=format_path(path), message=message)
        if issue not in self.issues:
            self.issues.append(issue)
        self.flagged.add(path)


def _hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- parsing


def _read(path: Path, out: _Collector) -> str | None:
    try:
        if path.is_file() and path.stat().st_size > MAX_BYTES:
            out.add((), f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: not a suite file")
            return None
        raw = path.read_bytes()
    except FileNotFoundError:
        out.add((), f"file not found: {path}")
        return None
    except IsADirectoryError:
        out.add((), f"{path} is a directory, not a suite file")
        return None
    except OSError as exc:
        out.add((), f"cannot read {path}: {exc.strerror or exc}")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.add((), f"not a text file: invalid UTF-8 at byte {exc.start}")
        return None
    if "\x00" in text:
        out.add((), "not a text file: it contains NUL bytes")
        return None
    return text


MAX_NESTING = 64
MAX_BYTES = 8 * 1024 * 1024
# Aliases are expanded into plain data, so a few lines of nested anchors ("billion laughs") could
# otherwise ask for billions of values; no real suite comes near this many.
MAX_NODES = 100_000


class _TooLarge(Exception):
    """Raised inside the conversion when a document expands to more than MAX_NODES values."""


def _flow_depth(text: str) -> int:
    """Deepest nesting of flow brackets, a cheap upper bound taken before parsing.

    The YAML parser slows down sharply on deeply nested flow collections (``[[[[...``), so an
    absurd file is refused up front instead of hanging ``evals validate``. Brackets inside quoted
    strings are counted too, which can only over-estimate.
    """
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def _parse(text: str, file: str, out: _Collector) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if _flow_depth(text) > MAX_NESTING:
        out.add((), f"invalid YAML: brackets nested more than {MAX_NESTING} deep", pos=(file, 1, 1))
        return None
    yaml = YAML(typ="rt", pure=True)
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        pos = (file, mark.line + 1, mark.column + 1) if mark is not None else None
        out.add((), f"invalid YAML: {problem}", pos=pos)
    except (YAMLError, ValueError, TypeError, AttributeError) as exc:
        # ruamel raises a few non-YAML errors on pathological input (e.g. bad escapes, huge ints).
        out.add((), f"invalid YAML: {exc}")
    except RecursionError:
        out.add((), "invalid YAML: nesting too deep")
    return None


def _to_plain(node: Any, path: Path_, file: str, doc: _Doc, out: _Collector, depth: int = 0) -> Any:
    """ruamel nodes -> plain dict/list/scalars, recording positions (1-based) as it goes."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    def refuse(message: str) -> None:
        # Positions of this file are still in ``doc`` (merged into the collector only afterwards).
        out.add(path, message, pos=doc.locate(path) or (file, 1, 1))
        out.dropped.add(path)

    if depth > 100:
        refuse("nesting too deep")
        return None
    out.nodes += 1
    if out.nodes > MAX_NODES:
        raise _TooLarge
    if isinstance(node, TaggedScalar) or (
        isinstance(node, CommentedMap | CommentedSeq)
        and getattr(node.tag, "value", None)
        and not str(node.tag.value).startswith("tag:yaml.org,2002:")
    ):
        tag = getattr(getattr(node, "tag", None), "value", None) or "?"
        refuse(f"YAML tags are not allowed in a suite (found {tag})")
        return None
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key in node:
            try:
                kline, kcol = node.lc.key(key)
                vline, vcol = node.lc.value(key)
            except (KeyError, TypeError, IndexError):
                kline = kcol = vline = vcol = None  # type: ignore[assignment]
            if not isinstance(key, str):
                out.add(path, f"keys must be strings, got {_show(key)}", pos=doc.locate(path) or (file, 1, 1))
                continue
            sub = (*path, key)
            if kline is not None:
                doc.keys[sub] = (file, kline + 1, kcol + 1)
                doc.values[sub] = (file, vline + 1, vcol + 1)
            result[key] = _to_plain(node[key], sub, file, doc, out, depth + 1)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            sub = (*path, index)
            try:
                line, col = node.lc.item(index)
                doc.values[sub] = (file, line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_to_plain(item, sub, file, doc, out, depth + 1))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, datetime | date):
        return node.isoformat()
    if isinstance(node, dict | list | set):  # other ruamel containers (e.g. !!set): refuse them plainly
        refuse(f"unsupported YAML value of type {type(node).__name__}")
        return None
    return str(node)


# --------------------------------------------------------------------------- extends


def _merge(base: Any, over: Any) -> Any:
    """Deep merge: mappings merge key by key, anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return over


def _load_document(path: Path, stack: list[Path], out: _Collector, top_dir: Path) -> dict[str, Any] | None:
    """Plain data of ``path`` with its ``extends`` chain merged in; positions go to ``out.doc``."""
    file = str(path)
    text = _read(path, out)
    if text is None:
        return None
    before = len(out.issues)
    node = _parse(text, file, out)
    if node is None:
        if len(out.issues) == before:
            out.add((), "the file is empty: a suite needs at least name and dataset", pos=(file, 1, 1))
        return None
    own = _Doc()
    before = len(out.issues)
    try:
        data = _to_plain(node, (), file, own, out)
    except _TooLarge:
        out.add(
            (), f"the document expands to more than {MAX_NODES} values (nested aliases?)", pos=(file, 1, 1)
        )
        return None
    if data is None and len(out.issues) > before:  # the whole document was refused, already said why
        return None
    if not isinstance(data, dict):
        out.add(
            (), f"a suite must be a mapping of keys to values, not {type(data).__name__}", pos=(file, 1, 1)
        )
        return None
    _rebase_paths(data, path.parent, top_dir)
    extends = data.pop("extends", None)
    if extends is None:
        out.doc.values.update(own.values)
        out.doc.keys.update(own.keys)
        return data
    if not isinstance(extends, str) or not extends.strip():
        out.doc.values.update(own.values)
        out.doc.keys.update(own.keys)
        out.add(("extends",), f"extends must be the path of another suite file, got {_show(extends)}")
        out.incomplete = True
        return data
    base_path = (path.parent / extends).resolve()
    if base_path in stack or base_path == path.resolve():
        chain = " -> ".join(p.name for p in [*stack, path.resolve(), base_path])
        out.doc.values.update(own.values)
        out.doc.keys.update(own.keys)
        out.add(("extends",), f"extends cycle: {chain}")
        out.incomplete = True
        return data
    if not base_path.is_file():
        out.doc.values.update(own.values)
        out.doc.keys.update(own.keys)
        out.add(("extends",), f"extended suite not found: {base_path}")
        out.incomplete = True
        return data
    base = _load_document(base_path, [*stack, path.resolve()], out, top_dir)
    # The child's positions override the base's: an error in a value the child set points at the child.
    out.doc.values.update(own.values)
    out.doc.keys.update(own.keys)
    if base is None:
        out.incomplete = True
        return data
    return typing.cast(dict[str, Any], _merge(base, data))


def _rebase_paths(data: dict[str, Any], file_dir: Path, top_dir: Path) -> None:
    """A relative dataset file in an extended suite is relative to that suite, not to the child."""
    dataset = data.get("dataset")
    if file_dir == top_dir or not isinstance(dataset, dict):
        return
    file = dataset.get("file")
    if isinstance(file, str) and file and not os.path.isabs(file):
        dataset["file"] = os.path.relpath(file_dir / file, top_dir)


# --------------------------------------------------------------------------- ${ENV}


def _interpolate(data: dict[str, Any], out: _Collector) -> None:
    for path in ENV_FIELDS:
        parent: Any = data
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or not isinstance(parent.get(path[-1]), str):
            continue
        value: str = parent[path[-1]]
        missing: list[str] = []

        def substitute(match: re.Match[str], missing: list[str] = missing) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.append(name)
            return match.group(0)

        parent[path[-1]] = _ENV_RE.sub(substitute, value)
        for name in missing:
            out.add(
                path, f"environment variable {name} is not set (write ${{{name}:-default}} for a fallback)"
            )


# --------------------------------------------------------------------------- pydantic errors


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional, unions and Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The suite class describing the mapping at ``path`` (for listing its allowed keys)."""
    candidates: list[Any] = [Suite]
    for part in path:
        nxt: list[Any] = []
        for cand in candidates:
            for typ in _unwrap(cand):
                origin = typing.get_origin(typ)
                if isinstance(typ, type) and issubclass(typ, BaseModel) and isinstance(part, str):
                    for name, info in typ.model_fields.items():
                        if part in (name, info.alias):
                            nxt.append(info.annotation)
                elif origin is dict and isinstance(part, str):
                    nxt.append(typing.get_args(typ)[1])
                elif origin is list and isinstance(part, int):
                    nxt.append(typing.get_args(typ)[0])
        candidates = nxt
    for cand in candidates:
        for typ in _unwrap(cand):
            if isinstance(typ, type) and issubclass(typ, BaseModel):
                return typ
    return None


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """pydantic's loc with union-member tags removed, by walking the actual data."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif index == len(loc) - 1 and isinstance(part, str | int) and not _is_tag(part):
            path.append(part)  # a missing or extra key: not in the data by nature
            node = None
    return tuple(path)


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("list", "range", "count", "function-after") or "[" in part)


def _pydantic_issues(exc: ValidationError, data: dict[str, Any], out: _Collector) -> None:
    for err in exc.errors(include_url=False):
        kind = err["type"]
        loc = tuple(err["loc"])
        value = err.get("input")
        if any(_data_path(loc, data)[: len(d)] == d for d in out.dropped):
            continue  # a value the parser refused: its own issue says why
        if out.incomplete and (kind == "missing" or (kind == "value_error" and isinstance(value, dict))):
            # Only part of the suite was loaded (the extends error says why): a key the base would
            # give, or a rule over keys of a mapping (one dataset source), cannot be judged.
            continue
        if kind == "extra_forbidden":
            path = _data_path(loc, data)
            key = str(path[-1]) if path else str(loc[-1])
            model = _model_at(path[:-1])
            allowed = sorted(info.alias or name for name, info in model.model_fields.items()) if model else []
            allowed_text = f" (allowed: {', '.join(allowed)})" if allowed else ""
            out.add(path, f"unknown key {key!r}{_hint(key, allowed)}{allowed_text}", key=True)
            continue
        path = _data_path(loc, data)
        message = str(err["msg"])
        if kind == "missing":
            out.add(path, f"missing required key {str(loc[-1])!r}")
            continue
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
            out.add(path, message)
            continue
        out.add(path, f"{_show(value)} is not valid: {message[0].lower() + message[1:]}")


# --------------------------------------------------------------------------- model-spec checks


def _models(data: dict[str, Any]) -> list[str]:
    target = data.get("target")
    models = [target.get("model", DEFAULT_MODEL) if isinstance(target, dict) else DEFAULT_MODEL]
    grid = data.get("grid")
    if isinstance(grid, dict) and isinstance(grid.get("model"), list):
        models += [m for m in grid["model"] if isinstance(m, str)]
    include = grid.get("include") if isinstance(grid, dict) else None
    if isinstance(include, list):
        models += [r["model"] for r in include if isinstance(r, dict) and isinstance(r.get("model"), str)]
    unique: list[str] = []
    for m in models:
        if isinstance(m, str) and m not in unique:
            unique.append(m)
    return unique


def _param_rules(name: str, specs: list[ModelSpec | None], task: bool) -> list[tuple[str, ParamSpec]]:
    """(model label, rule) for ``name`` under every model; the type-only rule for models without a spec."""
    rules: list[tuple[str, ParamSpec]] = []
    for spec in specs:
        table = (spec.task if task else spec.settings) if spec is not None else {}
        rule = table.get(name) if spec is not None else _TYPE_ONLY.get(name)
        if rule is None and spec is not None:
            rule = _TYPE_ONLY.get(name)
        if rule is not None:
            rules.append((spec.id if spec is not None else "", rule))
    return rules


def _check_value(
    name: str, value: Any, path: Path_, specs: list[ModelSpec | None], out: _Collector, *, task: bool = False
) -> None:
    if path in out.flagged:
        return
    for label, rule in _param_rules(name, specs, task):
        reason = rule.check(value)
        if reason is not None:
            suffix = f" (model {label})" if label and len(specs) > 1 else ""
            out.add(path, f"{reason}{suffix}")
            return


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _spec_checks(data: dict[str, Any], out: _Collector, warnings: list[str]) -> None:
    models = _models(data)
    specs: list[ModelSpec | None] = []
    for model in models:
        spec = get_spec(model)
        if spec is None:
            warnings.append(
                f"no model spec for {model!r}: only the types of its settings are checked"
                " (add a spec file to EVALS_SPEC_PATH for bounds)"
            )
        specs.append(spec)
    settings = data.get("settings")
    if isinstance(settings, dict):
        for name, value in settings.items():
            if value is None:
                continue
            if name in RUNWARE_SETTINGS:
                _check_value(name, value, ("settings", name), specs, out)
            elif name in ("numberResults", "seed"):
                _check_value(name, value, ("settings", name), specs, out, task=True)
    grid = data.get("grid")
    if not isinstance(grid, dict):
        return
    axes = grid.get("settings")
    if isinstance(axes, dict):
        for name, values in axes.items():
            if name not in RUNWARE_SETTINGS:
                out.add(
                    ("grid", "settings", name),
                    f"unknown setting {name!r}{_hint(name, list(RUNWARE_SETTINGS))}"
                    f" (settings: {', '.join(RUNWARE_SETTINGS)})",
                    key=True,
                )
                continue
            where: Path_ = ("grid", "settings", name)
            if isinstance(values, list):
                for index, value in enumerate(values):
                    _check_value(name, value, (*where, index), specs, out)
            elif isinstance(values, dict) and all(_is_number(values.get(k)) for k in ("from", "to", "step")):
                for end in ("from", "to"):
                    _check_value(name, values[end], (*where, end), specs, out)
                _check_range(name, values, where, models[0], specs, out)
    for top in ("numberResults", "deliveryMethod"):
        values = grid.get(top)
        if isinstance(values, list):
            for index, value in enumerate(values):
                _check_value(top, value, ("grid", top, index), specs, out, task=True)
    for index, rule in enumerate(grid.get("include") or []):
        if not isinstance(rule, dict):
            continue
        for key, value in rule.items():
            bare = str(key).removeprefix("settings.")
            where = ("grid", "include", index, key)
            if bare in RUNWARE_SETTINGS:
                _check_value(bare, value, where, specs, out)
            elif bare in ("numberResults", "deliveryMethod"):
                _check_value(bare, value, where, specs, out, task=True)
            elif bare == "model" and not isinstance(value, str):
                out.add(where, f"model: {_show(value)} is not allowed: expected a model id string")


def _check_range(
    name: str, raw: dict[str, Any], where: Path_, model: str, specs: list[ModelSpec | None], out: _Collector
) -> None:
    """Expand a range as the grid will and check every value it gives, not only its two ends.

    A step can lead off the allowed values even when both ends are fine: ``topK`` in steps of 0.5
    gives 1.5, which the API refuses for every request of that cell.
    """
    from evals.grid import range_values

    if any(p[: len(where)] == where for p in out.flagged):
        return  # an end is already wrong: one error per range is enough
    try:
        values = Range.model_validate(raw)
    except ValidationError:
        return  # pydantic's own errors cover it
    # The grid types and snaps ranges with the target's spec (the default model's when it has none).
    grid_spec = get_spec(model) or get_spec(DEFAULT_MODEL)
    expanded, issues = range_values(name, values, grid_spec)
    for sub, message in issues:
        out.add((*where, *sub), message, key=bool(sub))
    if issues:
        return
    for value in expanded:
        for label, rule in _param_rules(name, specs, task=False):
            reason = rule.check(value)
            if reason is not None:
                suffix = f" (model {label})" if label and len(specs) > 1 else ""
                out.add(where, f"a value of the range: {reason}{suffix}")
                return


# --------------------------------------------------------------------------- scorers and gate


def _scorer_checks(data: dict[str, Any], out: _Collector) -> list[str] | None:
    """Prepare every scorer as scoring will (name known, parameters accepted), so a typo fails here
    and not after the requests are paid for. Returns the scorers' stored ids, None if unknown."""
    raw = data.get("scorers")
    if not isinstance(raw, list):
        return None if raw is not None else []
    refs: list[ScorerRef] = []
    for index, entry in enumerate(raw):
        try:
            ref = ScorerRef.model_validate(entry)
        except (ValidationError, ValueError, TypeError):
            continue  # pydantic reports the entry itself
        refs.append(ref)
        _prepare_scorer(index, ref, out)
    if len(refs) != len(raw):
        return None
    ids = scorer_ids(refs)
    for index, scorer_id in enumerate(ids):
        if scorer_id in ids[:index]:
            where: Path_ = ("scorers", index, "id" if refs[index].id is not None else "name")
            out.add(where, f"two scorers would be stored as {scorer_id!r}: give them distinct ids")
    return ids


def _prepare_scorer(index: int, ref: ScorerRef, out: _Collector) -> None:
    # Imported here: the scorer registry imports every scorer module, which `evals --help` must not pay for.
    from evals.scorers.registry import _accepts, available_scorers, get_scorer, prepare_scorer

    names = available_scorers()
    if ref.name not in names:
        out.add(
            ("scorers", index, "name"),
            f"unknown scorer {ref.name!r}{_hint(ref.name, names)} (scorers: {', '.join(names)})",
        )
        return
    try:
        # No judge here: model_graded gets one only when scoring, from the run's target.
        prepare_scorer(ref.name, ref.params, scorer_id=ref.id, judge=None)
    except ConfigError as exc:
        message = str(exc)
        if "judge" in message and _accepts(get_scorer(ref.name), "judge"):
            return  # the missing judge is supplied at scoring time; nothing wrong with the suite
        path, key = _scorer_param_path(index, ref.params, message)
        out.add(path, message, key=key)
    except Exception as exc:  # a scorer's own set-up failing is still the suite's problem, not a crash
        out.add(("scorers", index, "params" if ref.params else "name"), f"scorer {ref.name!r}: {exc}")


def _scorer_param_path(index: int, params: dict[str, Any], message: str) -> tuple[Path_, bool]:
    """Where a scorer's refusal points: the parameter it names, else the params or the name."""
    where: Path_ = ("scorers", index)
    unexpected = re.search(r"unexpected keyword argument '([^']+)'", message)
    if unexpected and unexpected.group(1) in params:
        return (*where, "params", unexpected.group(1)), True
    # The registry's prefix names the scorer and its suffix lists every accepted parameter: neither
    # says which parameter is wrong.
    body = message.split(": ", 1)[-1].split("(accepted parameters:")[0]
    for param in params:
        if re.search(rf"(?<!\w){re.escape(str(param))}(?!\w)", body):
            return (*where, "params", param), False
    return ((*where, "params") if params else (*where, "name")), False


def _gate_checks(data: dict[str, Any], ids: list[str] | None, out: _Collector) -> None:
    """What each gated metric means: a scorer's score takes max_drop (at most 1: scores run from 0
    to 1), a latency or cost ratio takes max_increase; any other metric name cannot be measured."""
    gate = data.get("gate")
    metrics = gate.get("metrics") if isinstance(gate, dict) else None
    if not isinstance(metrics, list):
        return
    known = [*(ids or []), *GATE_RATIO_METRICS]
    # A suite without scorers is scored by `evals score --scorer ...` (or only supplies a gate to
    # `evals compare --suite`): its score names are not known here, so only ratio metrics are checked.
    if not ids:
        ids = None
    for index, entry in enumerate(metrics):
        try:
            spec = MetricGate.model_validate(entry)
        except (ValidationError, ValueError, TypeError):
            continue  # pydantic reports the entry itself
        where: Path_ = ("gate", "metrics", index)
        if spec.metric in GATE_RATIO_METRICS:
            if spec.max_drop is not None:
                out.add(
                    (*where, "max_drop"),
                    f"{spec.metric} is a latency or cost: gate it with max_increase (largest acceptable"
                    " relative growth), not max_drop",
                    key=True,
                )
            if spec.relative:
                out.add(
                    (*where, "relative"),
                    f"relative applies to max_drop of a score; {spec.metric} is always compared as a ratio",
                    key=True,
                )
        elif ids is not None and spec.metric not in ids:
            out.add(
                (*where, "metric"),
                f"unknown gate metric {spec.metric!r}{_hint(spec.metric, known)}"
                f" (a scorer id of this suite or one of: {', '.join(known)})",
            )
            continue
        elif spec.max_increase is not None:
            out.add(
                (*where, "max_increase"),
                f"{spec.metric} is a score: gate it with max_drop (largest acceptable drop), not max_increase",
                key=True,
            )
        if spec.max_drop is not None and spec.max_drop > 1 and spec.metric not in GATE_RATIO_METRICS:
            # Every shipped scorer scores in [0, 1]: a larger drop cannot happen, so the gate
            # could never fail (likely meant as points, e.g. 2 for 0.02).
            why = (
                "a relative max_drop is a fraction of the baseline's score, at most 1"
                if spec.relative
                else "scores run from 0 to 1, so an absolute max_drop is at most 1"
            )
            out.add((*where, "max_drop"), f"max_drop {spec.max_drop:g} lets any drop pass: {why}", key=True)
        if spec.scorer is not None:
            if spec.metric != "cost_per_correct":
                out.add((*where, "scorer"), "scorer applies to cost_per_correct only", key=True)
            elif ids is not None and spec.scorer not in ids:
                out.add(
                    (*where, "scorer"),
                    f"unknown scorer id {spec.scorer!r}{_hint(spec.scorer, ids)}"
                    f" (scorers of this suite: {', '.join(ids) or 'none'})",
                )


# --------------------------------------------------------------------------- cross-field checks


def _prompt_checks(suite: Suite, out: _Collector) -> None:
    from evals.prompt import TemplateError, placeholders

    def check(messages: list[Any], system: str | None, where: Path_) -> None:
        if not messages:
            out.add((*where, "messages"), "at least one message is needed")
        elif messages[-1].role != "user":
            out.add((*where, "messages", len(messages) - 1), "the last message must have role 'user'")
        for index, message in enumerate(messages):
            try:
                placeholders(message.content)
            except TemplateError as exc:
                out.add((*where, "messages", index, "content"), str(exc))
        if system is not None:
            try:
                placeholders(system)
            except TemplateError as exc:
                out.add((*where, "system"), str(exc))

    prompt = suite.prompt
    check(prompt.messages, prompt.system, ("prompt",))
    for name, variant in prompt.variants.items():
        check(variant.messages, variant.system, ("prompt", "variants", name))
    has_system = prompt.system is not None or any(v.system is not None for v in prompt.variants.values())
    if has_system and suite.settings.systemPrompt is not None:
        out.add(("settings", "systemPrompt"), "the system prompt is set twice: here and in prompt.system")
    if has_system and "systemPrompt" in suite.grid.settings:
        out.add(
            ("grid", "settings", "systemPrompt"),
            "cannot vary systemPrompt when the prompt sets its own system",
        )
    names = ["default", *prompt.variants]
    for index, name in enumerate(suite.grid.prompt or []):
        if name not in names:
            out.add(
                ("grid", "prompt", index),
                f"unknown prompt variant {name!r}{_hint(name, names)} (variants: {', '.join(names)})",
            )
    for index, rule in enumerate(suite.grid.include):
        chosen = rule.get("prompt")
        if chosen is not None and chosen not in names:
            out.add(
                ("grid", "include", index, "prompt"),
                f"unknown prompt variant {_show(chosen)} (variants: {', '.join(names)})",
            )


def _dataset_checks(data: dict[str, Any], base_dir: Path, out: _Collector) -> None:
    """Generator name and params, file existence and format; on raw data, so they run even when
    other parts of the suite are broken."""
    from evals.dataset import _FORMATS

    dataset = data.get("dataset")
    if not isinstance(dataset, dict):
        return
    name = dataset.get("generator")
    if isinstance(name, str) and ("dataset", "generator") not in out.flagged:
        from evals.generators import generator_names, get_generator

        try:
            gen = get_generator(name)
        except KeyError:
            names = generator_names()
            out.add(
                ("dataset", "generator"),
                f"unknown generator {name!r}{_hint(name, names)} (generators: {', '.join(names)})",
            )
        else:
            params = dataset.get("params")
            if isinstance(params, dict):
                for param, message in gen.check_params(params):
                    where: Path_ = ("dataset", "params", param) if param in params else ("dataset", "params")
                    out.add(where, message, key=True)
    file = dataset.get("file")
    if isinstance(file, str) and file and ("dataset", "file") not in out.flagged:
        path = base_dir / file
        if dataset.get("format") is None and path.suffix.lower() not in _FORMATS:
            out.add(("dataset", "file"), f"cannot tell the format of {file!r}: set dataset.format")
        if not path.is_file():
            out.add(("dataset", "file"), f"dataset file not found: {path}")


def _seed_checks(suite: Suite, out: _Collector) -> None:
    if suite.settings.seed is not None:
        if suite.replicates > 1:
            out.add(
                ("replicates",), "replicates > 1 with a fixed settings.seed would repeat identical requests"
            )
        if suite.seeds != 1:
            out.add(("seeds",), "seeds cannot be set together with a fixed settings.seed")
    elif isinstance(suite.seeds, list):
        if len(set(suite.seeds)) != len(suite.seeds):
            out.add(("seeds",), "the seeds must be distinct")
        if suite.replicates > 1:
            out.add(
                ("replicates",),
                "replicates > 1 with an explicit seeds list would repeat identical requests; use a seed count",
            )


def _grid_checks(suite: Suite, out: _Collector, warnings: list[str]) -> GridPlan | None:
    from evals.grid import build_grid

    spec = get_spec(suite.target.model) or get_spec(DEFAULT_MODEL)
    grid, issues, grid_warnings = build_grid(suite, spec)
    warnings.extend(grid_warnings)
    for path, message in issues:
        if path not in out.flagged:
            out.add(path, message, key=message.startswith("unknown"))
    return None if issues else grid


def _cell_checks(suite: Suite, grid: GridPlan, out: _Collector) -> None:
    from evals.expand import build_cell

    size = grid.product_size() + len(grid.include)
    if size > MAX_CELLS:
        out.add(("grid",), f"the grid has {size} cells; at most {MAX_CELLS} are allowed")
        return
    # Only a few cells can break a rule that spans axes (stream with several results), so walk them
    # only when both values are possible at all.
    streams = "stream" in (
        grid.axis("deliveryMethod").values
        if "deliveryMethod" in grid.axis_names
        else (suite.target.deliveryMethod,)
    )
    many = any(
        n > 1
        for n in (
            grid.axis("numberResults").values
            if "numberResults" in grid.axis_names
            else (suite.settings.numberResults,)
        )
    )
    includes_risky = any(
        r.get("deliveryMethod") == "stream" or (r.get("numberResults") or 1) > 1 for r in grid.include
    )
    if (streams and many) or includes_risky:
        for point, included in grid.points():
            cell = build_cell(suite, point, grid.axis_names).cell
            if cell.delivery_method == "stream" and cell.number_results > 1:
                where: Path_ = ("grid",) if not included else ("grid", "include")
                out.add(
                    where,
                    f"deliveryMethod stream cannot return numberResults {cell.number_results} (cell {cell.axes}):"
                    " streamed chunks carry no result index; exclude these cells",
                )
                break
    if not any(True for _ in grid.product_points()) and not grid.include:
        out.add(("grid", "exclude"), "the exclude rules remove every cell of the grid")


# --------------------------------------------------------------------------- entry point


def _issue_order(issue: SuiteIssue) -> tuple[str, int, int, str]:
    return (issue.file, issue.line or 0, issue.column or 0, issue.path)


def _dump(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def load_suite(path: str | Path) -> LoadedSuite:
    """Load, merge and validate a suite file. Raises SuiteError listing every problem found."""
    path = Path(path)
    out = _Collector(str(path))
    warnings: list[str] = []
    top_dir = path.resolve().parent if path.exists() else path.parent
    data = _load_document(path, [], out, top_dir)
    if data is None:
        raise SuiteError(out.issues or [SuiteIssue(str(path), None, None, "", "cannot load the suite")])
    _interpolate(data, out)
    suite: Suite | None = None
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        _pydantic_issues(exc, data, out)
    except (RecursionError, ValueError, TypeError) as exc:
        out.add((), f"cannot validate the suite: {exc}")
    _dataset_checks(data, top_dir, out)
    _gate_checks(data, _scorer_checks(data, out), out)
    try:
        _spec_checks(data, out, warnings)
    except ConfigError as exc:  # a broken model spec file is reported, not raised as a traceback
        out.add((), str(exc))
    if suite is not None:
        _prompt_checks(suite, out)
        _seed_checks(suite, out)
        grid = _grid_checks(suite, out, warnings)
        if grid is not None and not out.issues:  # cells mean something only once every value is valid
            _cell_checks(suite, grid, out)
    if out.issues or suite is None:
        raise SuiteError(sorted(out.issues, key=_issue_order))
    return LoadedSuite(
        suite=suite,
        path=path,
        text=_dump(data),
        base_dir=top_dir,
        warnings=warnings,
        positions=dict(out.doc.values),
    )


def iter_issues(paths: list[str | Path]) -> Iterator[tuple[Path, LoadedSuite | None, list[SuiteIssue]]]:
    """(path, loaded suite or None, issues) for each path: the validate command's loop."""
    for p in paths:
        try:
            yield Path(p), load_suite(p), []
        except SuiteError as exc:
            yield Path(p), None, exc.issues
