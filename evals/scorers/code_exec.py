"""Code execution (HumanEval-style): run the sample's tests against the completion in the sandbox.

The program run is the sample's prompt, the completion, the sample's tests and a call of the test
entry point (``check(<entry_point>)``). A completion that defines the function itself (chat models
usually answer with the whole function in a fenced block) is appended after the prompt, so the
prompt's imports and helpers stay available and the completion's definition wins.
"""

from __future__ import annotations

import re
from typing import Any

from evals.sandbox import Limits, run_python
from evals.scorers.registry import scorer
from evals.scorers.types import Score, ScorerInput

# Markdown allows ``` and ~~~ fences; the block ends at the same kind of fence, or at the end of a
# completion cut off by maxTokens.
_FENCE = re.compile(
    r"(?P<fence>```|~~~)[ \t]*(?:python3|python|py)?[ \t]*\n(?P<code>.*?)(?:(?P=fence)|\Z)",
    re.DOTALL | re.IGNORECASE,
)


def extract_code(text: str) -> str:
    """The code of a completion: the fenced blocks if there are any, else the text as it is."""
    # Some servers answer with Windows line ends; unified first so a "```python\r\n" fence is found.
    unified = text.replace("\r\n", "\n")
    blocks = [match.group("code") for match in _FENCE.finditer(unified)]
    if blocks:
        return "\n\n".join(block.rstrip() for block in blocks)
    return text


def build_program(prompt: str, completion: str, tests: str, entry_point: str | None) -> str:
    """The program that passes when ``completion`` passes ``tests``."""
    defines_entry = entry_point is not None and re.search(
        rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", completion, re.MULTILINE
    )
    body = prompt + "\n\n" + completion if defines_entry else prompt + completion
    program = body.rstrip() + "\n\n\n" + tests.rstrip() + "\n"
    if entry_point is not None:
        program += f"\n\ncheck({entry_point})\n"
    return program


@scorer("code_exec")
class CodeExec:
    """Pass when the completion passes the sample's tests inside the sandbox within the limits."""

    def __init__(
        self,
        *,
        tests_field: str = "test",
        entry_point_field: str | None = "entry_point",
        prompt_field: str | None = "prompt",
        extract: bool = True,
        timeout: float = 10.0,
        cpu_seconds: int = 10,
        memory_mb: int = 1024,
    ) -> None:
        if timeout <= 0 or cpu_seconds <= 0 or memory_mb <= 0:
            raise ValueError("timeout, cpu_seconds and memory_mb must be positive")
        self.tests_field = tests_field
        self.entry_point_field = entry_point_field
        self.prompt_field = prompt_field
        self.extract = extract
        self.limits = Limits(wall_seconds=timeout, cpu_seconds=cpu_seconds, memory_bytes=memory_mb << 20)

    def _field(self, output: ScorerInput, name: str | None, required: bool) -> Any:
        if name is None:
            return None
        value = output.sample.fields.get(name)
        if value is None and required:
            raise ValueError(f"sample {output.sample.id!r} has no field {name!r}")
        return value

    def __call__(self, output: ScorerInput) -> Score:
        tests = self._field(output, self.tests_field, required=True)
        entry_point = self._field(output, self.entry_point_field, required=False)
        prompt = self._field(output, self.prompt_field, required=False) or ""
        completion = extract_code(output.text) if self.extract else output.text
        program = build_program(str(prompt), completion, str(tests), entry_point)
        result = run_python(program, limits=self.limits)
        notes = result.isolation_notes
        suffix = f" [{notes}]" if notes else ""
        if result.ok:
            return Score.of(True, f"tests passed in {result.duration_s:.2f} s{suffix}")
        return Score.of(False, f"{result.status}: {result.reason}{suffix}")
