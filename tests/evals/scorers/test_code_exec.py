from __future__ import annotations

from typing import Any

import pytest

from evals.generators.humaneval import humaneval
from evals.scorers.code_exec import build_program, extract_code

PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
FIELDS = {"prompt": PROMPT, "test": TESTS, "entry_point": "add"}


def test_extract_code() -> None:
    assert extract_code("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```") == "x = 1\n\ny = 2"
    assert extract_code("    return 1\n") == "    return 1\n"
    assert extract_code("```python\nx = 1\n") == "x = 1"  # a fence cut off by maxTokens


def test_build_program_continuation_and_full_function() -> None:
    continuation = build_program(PROMPT, "    return a + b\n", TESTS, "add")
    assert PROMPT + "    return a + b" in continuation and continuation.endswith("check(add)\n")
    full = build_program(PROMPT, "def add(a, b):\n    return a + b\n", TESTS, "add")
    assert full.index(PROMPT) < full.index("def add(a, b):")


@pytest.mark.parametrize(
    ("completion", "passed"),
    [
        ("    return a + b\n", True),
        ("Sure:\n```python\ndef add(a, b):\n    return a + b\n```", True),
        ("    return a - b\n", False),
        ("    return (\n", False),  # a syntax error is a failure, not a scorer error
    ],
)
def test_code_exec(score: Any, completion: str, passed: bool) -> None:
    result = score("code_exec", completion, fields=FIELDS)
    assert result.error is None
    assert result.passed is passed, result.explanation


def test_infinite_loop_is_a_contained_failure(score: Any) -> None:
    result = score(
        "code_exec", "    while True:\n        pass\n", {"timeout": 2, "cpu_seconds": 1}, fields=FIELDS
    )
    assert result.passed is False
    assert "cpu_limit" in result.explanation or "timeout" in result.explanation


def test_humaneval_canonical_solutions_pass_and_empty_ones_fail(score: Any) -> None:
    for problem in humaneval(seed=0, limit=3):
        good = score("code_exec", problem["canonical_solution"], fields=problem)
        assert good.passed is True, (problem["task_id"], good.explanation)
        bad = score("code_exec", "    pass\n", fields=problem)
        assert bad.passed is False


def test_missing_tests_field_is_a_scorer_error(score: Any) -> None:
    result = score("code_exec", "x = 1", fields={"prompt": ""})
    assert result.value is None and "test" in (result.error or "")


@pytest.mark.slow
def test_every_humaneval_canonical_solution_passes_as_a_chat_answer() -> None:
    """All 164 problems, each answered the way a chat model does: the whole function in a fence."""
    from concurrent.futures import ThreadPoolExecutor

    from evals.scorers import prepare_scorer

    from .conftest import make_input

    scorer = prepare_scorer("code_exec")
    problems = list(humaneval(seed=0))
    answers = [
        "Here it is:\n```python\n" + p["prompt"] + p["canonical_solution"] + "\n```\nDone." for p in problems
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda a: scorer.score(make_input(a[1], fields=a[0])), zip(problems, answers, strict=True)
            )
        )
    failed = [(p["task_id"], r.explanation) for p, r in zip(problems, results, strict=True) if not r.passed]
    assert len(problems) == 164 and not failed


def test_extract_code_crlf_and_tilde_fences() -> None:
    assert extract_code("Sure:\r\n```python\r\nx = 1\r\n```\r\n") == "x = 1"
    assert extract_code("~~~python\nx = '```'\n~~~\nDone.") == "x = '```'"


@pytest.mark.parametrize(
    "completion",
    [
        "Sure:\r\n```python\r\ndef add(a, b):\r\n    return a + b\r\n```\r\n",
        "~~~python\ndef add(a, b):\n    return a + b\n~~~\n",
    ],
)
def test_code_exec_crlf_and_tilde_fences(score: Any, completion: str) -> None:
    result = score("code_exec", completion, fields=FIELDS)
    assert result.passed is True, result.explanation


@pytest.mark.parametrize(
    "completion",
    [
        "```python\ndef add(a, b):\n    return a - b\nimport os\nos._exit(0)\n```",
        "```python\ndef add(a, b):\n    return a - b\nimport atexit, os\natexit.register(os._exit, 0)\n```",
        "```python\ndef add(a, b):\n    return 0\nraise SystemExit\n```",
        "```python\ndef add(a, b):\n    return 0\nimport os\nos.write(int(os.environ.get('EVALS_REPORT_FD', 1)), b'x' * 32)\nos._exit(0)\n```",
    ],
    ids=["os._exit", "atexit", "SystemExit", "forged-report"],
)
def test_exiting_early_with_status_0_is_not_a_pass(score: Any, completion: str) -> None:
    result = score("code_exec", completion, fields=FIELDS)
    assert result.error is None
    assert result.passed is False, result.explanation
