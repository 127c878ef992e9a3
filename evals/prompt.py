"""Prompt templates: ``{field}`` placeholders filled from a sample, ``{{`` and ``}}`` for literal braces.

Placeholders are plain field names (an optional format spec such as ``{score:.2f}`` is allowed).
Attribute and index access (``{input.__class__}``, ``{row[0]}``) is refused when the suite is
loaded: a template must not be able to reach into Python objects.
"""

from __future__ import annotations

import string
from typing import Any

from evals.errors import DatasetError
from evals.records import Sample

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that cannot be parsed, or uses a placeholder form that is not allowed."""


def placeholders(template: str) -> list[str]:
    """The field names a template uses, in order of first appearance. Raises TemplateError."""
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or not field.isidentifier():
            shown = "{" + field + "}"
            raise TemplateError(
                f"placeholder {shown} is not a field name: use {{name}} with a plain name"
                " (write {{ and }} for literal braces)"
            )
        if conversion is not None:
            raise TemplateError(f"placeholder {{{field}!{conversion}}}: conversions are not supported")
        if spec and "{" in spec:
            raise TemplateError(f"placeholder {{{field}:{spec}}}: nested placeholders are not supported")
        if field not in names:
            names.append(field)
    return names


def sample_namespace(sample: Sample) -> dict[str, Any]:
    """What placeholders may name: every raw field, then the mapped ``input``, ``target`` and ``id``."""
    namespace = dict(sample.fields)
    namespace["input"] = sample.input
    namespace["id"] = sample.id
    if sample.target is not None:
        namespace["target"] = sample.target
    return namespace


class RenderError(DatasetError):
    """A template of a prompt that cannot be filled from one sample.

    ``part`` is where the template sits within its prompt (``("messages", 0, "content")`` or
    ``("system",)``), so the caller can point at the suite line that wrote it; ``detail`` is the
    reason without the location.
    """

    def __init__(self, where: str, part: tuple[str | int, ...], detail: str):
        super().__init__(f"{where}: {detail}")
        self.part = part
        self.detail = detail


def _fill(template: str, sample: Sample) -> str:
    """``template`` filled from ``sample``; raises ValueError with the reason."""
    namespace = sample_namespace(sample)
    names = placeholders(template)
    for name in names:
        if name not in namespace:
            available = ", ".join(sorted(namespace))
            raise ValueError(
                f"placeholder {{{name}}} has no field {name!r} in sample {sample.id!r} (fields: {available})"
            )
    try:
        return _FORMATTER.vformat(template, (), namespace)
    except (ValueError, TypeError) as exc:  # a format spec that does not fit the value's type
        raise ValueError(f"cannot render sample {sample.id!r}: {exc}") from None


def render(template: str, sample: Sample, *, where: str = "prompt") -> str:
    """Fill ``template`` from ``sample``. A missing field raises DatasetError naming it and the sample."""
    try:
        return _fill(template, sample)
    except ValueError as exc:  # TemplateError included
        raise DatasetError(f"{where}: {exc}") from None


def render_messages(
    messages: list[dict[str, str]], system: str | None, sample: Sample
) -> tuple[list[dict[str, str]], str | None]:
    """Render every message and the system prompt of a template for one sample.

    Raises RenderError (a DatasetError) naming the template that could not be filled.
    """
    rendered = []
    for i, m in enumerate(messages):
        try:
            rendered.append({"role": m["role"], "content": _fill(m["content"], sample)})
        except ValueError as exc:
            raise RenderError(f"prompt.messages[{i}]", ("messages", i, "content"), str(exc)) from None
    rendered_system = None
    if system is not None:
        try:
            rendered_system = _fill(system, sample)
        except ValueError as exc:
            raise RenderError("prompt.system", ("system",), str(exc)) from None
    return rendered, rendered_system
