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


def render(template: str, sample: Sample, *, where: str = "prompt") -> str:
    """Fill ``template`` from ``sample``. A missing field raises DatasetError naming it and the sample."""
    namespace = sample_namespace(sample)
    try:
        names = placeholders(template)
    except TemplateError as exc:
        raise DatasetError(f"{where}: {exc}") from None
    for name in names:
        if name not in namespace:
            available = ", ".join(sorted(namespace))
            raise DatasetError(
                f"{where}: placeholder {{{name}}} has no field {name!r} in sample {sample.id!r}"
                f" (fields: {available})"
            )
    try:
        return _FORMATTER.vformat(template, (), namespace)
    except (ValueError, TypeError) as exc:  # a format spec that does not fit the value's type
        raise DatasetError(f"{where}: cannot render sample {sample.id!r}: {exc}") from None


def render_messages(
    messages: list[dict[str, str]], system: str | None, sample: Sample
) -> tuple[list[dict[str, str]], str | None]:
    """Render every message and the system prompt of a template for one sample."""
    rendered = [
        {"role": m["role"], "content": render(m["content"], sample, where=f"prompt.messages[{i}]")}
        for i, m in enumerate(messages)
    ]
    rendered_system = render(system, sample, where="prompt.system") if system is not None else None
    return rendered, rendered_system
