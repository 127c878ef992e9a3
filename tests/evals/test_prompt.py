"""Prompt rendering: placeholders from sample fields, literal braces, located errors."""

from __future__ import annotations

import pytest

from evals.errors import DatasetError
from evals.prompt import TemplateError, placeholders, render, render_messages
from evals.records import Sample

SAMPLE = Sample(id="s1", input="2+2?", target="4", fields={"question": "2+2?", "topic": "math", "score": 0.5})


def test_render_fields_and_mapped_names() -> None:
    assert render("[{topic}] {input} ({id})", SAMPLE) == "[math] 2+2? (s1)"
    assert render("{score:.2f}", SAMPLE) == "0.50"


def test_literal_braces() -> None:
    assert render('{{"answer": {target}}}', SAMPLE) == '{"answer": 4}'


def test_missing_field_names_field_and_sample() -> None:
    with pytest.raises(DatasetError) as info:
        render("{question} {context}", SAMPLE, where="prompt.messages[0]")
    message = str(info.value)
    assert "{context}" in message and "'s1'" in message and "prompt.messages[0]" in message


@pytest.mark.parametrize(
    "template", ["{input.__class__}", "{0}", "{}", "{fields[0]}", "{input!r}", "{a", "b}"]
)
def test_unsafe_or_broken_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        placeholders(template)


def test_placeholders_in_order_once() -> None:
    assert placeholders("{b} {a} {b} {{c}}") == ["b", "a"]


def test_render_messages_and_system() -> None:
    messages, system = render_messages(
        [{"role": "user", "content": "Q: {question}"}], "Topic: {topic}", SAMPLE
    )
    assert messages == [{"role": "user", "content": "Q: 2+2?"}]
    assert system == "Topic: math"


def test_bad_format_spec_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="cannot render"):
        render("{topic:.2f}", SAMPLE)
