"""JSON answers: valid JSON, and optionally valid against a JSON Schema."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)
_NOT_FOUND = object()


def find_json(text: str, *, extract: bool = True) -> Any:
    """The JSON value ``text`` holds, or raise ``ValueError``.

    Without ``extract`` the whole text must be JSON. With it, a fenced block or the first complete
    JSON object or array inside the text is accepted too: chat models often wrap JSON in prose.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        if not extract:
            raise ValueError(f"not JSON: {exc}") from None
        first_error = exc
    for block in _FENCE.findall(text):
        try:
            return json.loads(block)
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
            return value
        except json.JSONDecodeError:
            continue
    raise ValueError(f"no JSON found: {first_error}")


@scorer("json")
class JsonScorer:
    """Pass when the answer is JSON and, given a schema, valid against it.

    ``schema`` is an inline JSON Schema; ``schema_field`` names a sample field holding one (per
    sample schemas). ``extract: false`` demands that the whole answer be JSON.
    """

    def __init__(
        self,
        *,
        schema: dict[str, Any] | None = None,
        schema_field: str | None = None,
        extract: bool = True,
    ) -> None:
        if schema is not None and schema_field is not None:
            raise ValueError("give schema or schema_field, not both")
        self.validator = self._validator(schema) if schema is not None else None
        self.schema_field = schema_field
        self.extract = extract

    @staticmethod
    def _validator(schema: dict[str, Any]) -> Any:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)  # a broken schema is the suite's fault, not the answer's
        return cls(schema)

    def __call__(self, output: ScorerInput) -> Score:
        try:
            value = find_json(output.text, extract=self.extract)
        except ValueError as exc:
            return Score.of(False, str(exc))
        validator = self.validator
        if self.schema_field is not None:
            schema = output.sample.fields.get(self.schema_field)
            if isinstance(schema, str):
                schema = json.loads(schema)
            if not isinstance(schema, dict):
                raise ValueError(f"sample {output.sample.id!r} has no schema in {self.schema_field!r}")
            validator = self._validator(schema)
        if validator is None:
            return Score.of(True, "valid JSON")
        error = best_match(validator.iter_errors(value))
        if error is None:
            return Score.of(True, "valid JSON, matches the schema")
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return Score.of(False, f"schema violation at {where}: {error.message}")
