"""Model-graded scoring: a judge model reads the answer against a rubric and gives a grade.

The judge is anything with ``complete(messages, settings) -> (text, usage, cost)``, sync or async
(``Judge``). ``evals score`` and ``evals run`` build one from a configured provider (the local one
included) with ``ProviderJudge``; tests pass a fake. Every judge call is recorded with its own
usage, cost and latency and stored apart from the run's (table ``judge_calls``).
"""

from __future__ import annotations

import inspect
import re
import time
import uuid
from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

import anyio

from evals.records import Sample, Task, Usage
from evals.scorers.registry import scorer
from evals.scorers.types import JudgeCall, Score, ScorerInput

JudgeReply = tuple[str, Usage | None, float | None]


@runtime_checkable
class Judge(Protocol):
    """A model that answers a list of messages; ``model`` names it in the stored judge calls."""

    model: str | None

    def complete(
        self, messages: list[dict[str, str]], settings: dict[str, Any]
    ) -> JudgeReply | Awaitable[JudgeReply]: ...


DEFAULT_RUBRIC = """You are grading an answer to a task.

[Task]
{input}

[Reference answer]
{target}

[Criteria]
{criteria}

[Answer to grade]
{output}

Grade the answer against the criteria and the reference. Reply with one short sentence of
reasoning, then a last line of the form "GRADE: C" for correct, "GRADE: P" for partially correct
or "GRADE: I" for incorrect."""

DEFAULT_GRADES = {"C": 1.0, "P": 0.5, "I": 0.0}
DEFAULT_CRITERIA = "The answer is correct, complete and answers the task that was asked."


def render(template: str, values: dict[str, str]) -> str:
    """Fill ``{input}``, ``{output}``, ``{target}`` and ``{criteria}``; other braces stay as written."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _task_text(output: ScorerInput) -> str:
    messages = output.request.get("messages") if isinstance(output.request, dict) else None
    if isinstance(messages, list):
        users = [m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return str(users[-1])
    return str(output.sample.input)


@scorer("model_graded")
class ModelGraded:
    """Ask the judge for a grade and map it to a value.

    ``grades`` maps a grade the judge may give (letters by default) to a value; with ``scale_max``
    a numeric grade is divided by it instead. The result passes when its value reaches
    ``pass_threshold``. A judge that fails or gives no readable grade is a scorer error.
    """

    def __init__(
        self,
        *,
        judge: Judge | None = None,
        rubric: str = DEFAULT_RUBRIC,
        criteria: str = DEFAULT_CRITERIA,
        criteria_field: str | None = None,
        grade_pattern: str = r"GRADE\s*:\s*\**\s*([A-Za-z]+|\d+(?:\.\d+)?)",
        grades: dict[str, float] | None = None,
        scale_max: float | None = None,
        pass_threshold: float = 1.0,
        system: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.judge = judge
        self.rubric = rubric
        self.criteria = criteria
        self.criteria_field = criteria_field
        self.grade_pattern = re.compile(grade_pattern, re.IGNORECASE)
        if not self.grade_pattern.groups:
            raise ValueError("grade_pattern needs a group that captures the grade")
        self.grades = {k.upper(): float(v) for k, v in (grades or DEFAULT_GRADES).items()}
        if scale_max is not None and scale_max <= 0:
            raise ValueError("scale_max must be positive")
        self.scale_max = scale_max
        self.pass_threshold = pass_threshold
        self.settings = {"temperature": 0.0, "maxTokens": 256, **(settings or {})}
        if system:
            self.settings["systemPrompt"] = system

    def parse_grade(self, text: str) -> float:
        """The value of the last grade in the judge's text; ``ValueError`` when there is none."""
        found = self.grade_pattern.findall(text)
        if not found:
            raise ValueError("the judge gave no grade")
        grade = str(found[-1]).strip()
        if self.scale_max is not None:
            try:
                return float(grade) / self.scale_max
            except ValueError:
                raise ValueError(f"the judge's grade {grade!r} is not a number") from None
        if grade.upper() not in self.grades:
            raise ValueError(f"the judge's grade {grade!r} is none of {', '.join(self.grades)}")
        return self.grades[grade.upper()]

    async def _complete(self, messages: list[dict[str, str]]) -> JudgeReply:
        assert self.judge is not None
        complete = self.judge.complete
        if inspect.iscoroutinefunction(complete):
            reply = await complete(messages, dict(self.settings))
        else:
            reply = await anyio.to_thread.run_sync(complete, messages, dict(self.settings))
            if inspect.isawaitable(reply):
                reply = await reply
        return reply  # type: ignore[return-value]

    async def __call__(self, output: ScorerInput) -> Score:
        if self.judge is None:
            return Score.failure("no judge configured (evals score --judge-provider ...)")
        sample = output.sample
        criteria = self.criteria
        if self.criteria_field is not None:
            criteria = str(sample.fields.get(self.criteria_field) or criteria)
        prompt = render(
            self.rubric,
            {
                "input": _task_text(output),
                "output": output.text,
                "target": "" if sample.target is None else str(sample.target),
                "criteria": criteria,
            },
        )
        model = getattr(self.judge, "model", None)
        start = time.perf_counter()
        try:
            text, usage, cost = await self._complete([{"role": "user", "content": prompt}])
        except Exception as exc:
            call = JudgeCall(model, None, None, None, time.perf_counter() - start, None, error=str(exc))
            return Score(value=None, passed=None, error=f"judge call failed: {exc}", judge_calls=(call,))
        call = JudgeCall(
            model=model,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            cost=cost,
            latency_s=time.perf_counter() - start,
            output=text,
        )
        try:
            value = self.parse_grade(text)
        except ValueError as exc:
            return Score(value=None, passed=None, error=str(exc), judge_calls=(call,))
        last_line = text.strip().splitlines()[-1] if text.strip() else ""
        return Score(
            value=value,
            passed=value >= self.pass_threshold,
            explanation=f"judge: {last_line[:200]}",
            judge_calls=(call,),
        )


class ProviderJudge:
    """A ``Judge`` over a harness provider (``runners`` builds the provider; this only calls it).

    The provider is duck-typed (``send(task, task_uuid, attempt) -> Attempt``) because ``evals`` may
    not import ``runners``. Transient failures are retried a few times with a short backoff.
    """

    def __init__(self, provider: Any, model: str, *, max_attempts: int = 3, seed: int = 0) -> None:
        self.provider = provider
        self.model = model
        self.max_attempts = max_attempts
        self.seed = seed

    async def complete(self, messages: list[dict[str, str]], settings: dict[str, Any]) -> JudgeReply:
        request = {
            "taskType": "textInference",
            "model": self.model,
            "deliveryMethod": "sync",
            "numberResults": 1,
            "includeCost": True,
            "includeUsage": True,
            "seed": self.seed,
            "messages": messages,
            "settings": {k: v for k, v in settings.items() if v is not None},
        }
        task_uuid = str(uuid.uuid4())
        task = Task(
            id=f"judge-{task_uuid}",
            cell_id="judge",
            sample_id="judge",
            replicate=0,
            seed=self.seed,
            request=request,
            sample=Sample(id="judge", input=messages[-1]["content"]),
        )
        for number in range(1, self.max_attempts + 1):
            attempt = await self.provider.send(task, task_uuid, number)
            if attempt.error is None and attempt.generations:
                generation = attempt.generations[0]
                usage = generation.usage or attempt.usage
                cost = attempt.cost if attempt.cost is not None else generation.cost
                return generation.text, usage, cost
            error = attempt.error
            if error is None:
                raise RuntimeError("the judge returned no result")
            if not error.retryable or number == self.max_attempts:
                raise RuntimeError(f"{error.code}: {error.message}")
            await anyio.sleep(min(8.0, 0.5 * 2 ** (number - 1)))
        raise RuntimeError("the judge gave no answer")  # pragma: no cover - the loop always returns
