"""Code execution (HumanEval-style): run the sample's tests against the completion in the sandbox.

The program run is the sample's prompt, the completion, the sample's tests and a call of the test
entry point (``check(<entry_point>)``). A completion that defines the function itself (chat models
usually answer with the whole function in a fenced block) is appended after the prompt, so the
prompt's imports and helpers stay available and the completion's definition wins.

Only the harness's wrapper can say "passed": it reads the sandbox's one-time token from a pipe
before any sample code runs, keeps it in a local variable, runs the program in a namespace of its
own and writes the token back only after ``check()`` returned. A program that exits early with
status 0 (``os._exit(0)``, ``atexit``, ``raise SystemExit``) therefore fails. A completion that
deliberately introspects the interpreter (``sys._getframe``, ``gc``, ``/proc/self/mem``) to steal
the token, or that attacks the tests themselves (a thread swapping ``check``, a result whose
``__eq__`` is always true), could still forge a pass; the scorer does not claim to stop that.
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


# Runs the sample's program (prompt, completion, tests) in a namespace of its own, then the check,
# and only then echoes the token; nothing the program can call or read holds the token.
_WRAPPER = """\
def _evals_harness(source, entry_point):
    import os
    token_fd, report_fd = int(os.environ.pop("EVALS_TOKEN_FD")), int(os.environ.pop("EVALS_REPORT_FD"))
    token = os.read(token_fd, 64)
    os.close(token_fd)
    namespace = {{"__name__": "__main__", "__builtins__": __builtins__}}
    exec(compile(source, "solution.py", "exec"), namespace)
    if entry_point is not None:
        namespace["check"](namespace[entry_point])
    os.write(report_fd, token)


_evals_harness({source!r}, {entry_point!r})
"""


def wrap_program(program: str, entry_point: str | None) -> str:
    """The harness's wrapper around ``program`` (see the module's docstring): run with
    ``run_python(..., attest=True)``, it is attested only when ``check(entry_point)`` returned."""
    return _WRAPPER.format(source=program, entry_point=entry_point)


def build_program(prompt: str, completion: str, tests: str, entry_point: str | None) -> str:
    """The program that passes when ``completion`` passes ``tests`` (unwrapped: see ``wrap_program``)."""
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
        # check() is called by the wrapper, after the program (prompt, completion, tests) has run.
        program = build_program(str(prompt), completion, str(tests), None)
        result = run_python(wrap_program(program, entry_point), limits=self.limits, attest=True)
        notes = result.isolation_notes
        suffix = f" [{notes}]" if notes else ""
        if result.ok and result.attested:
            return Score.of(True, f"tests passed in {result.duration_s:.2f} s{suffix}")
        if result.ok:
            return Score.of(False, f"exited before the tests finished (status 0, no pass signal){suffix}")
        return Score.of(False, f"{result.status}: {result.reason}{suffix}")
