"""The plan: counts from factors, token and cost estimates from the model spec, `evals plan` CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals.cli import cli
from evals.expand import iter_tasks
from evals.model_spec import get_spec
from evals.plan import make_plan
from evals.suite_loader import load_suite

FIXTURES = Path(__file__).parent / "fixtures"
PRICE = get_spec("alibaba:qwen@3.5-27b").price  # type: ignore[union-attr]


def test_counts_match_the_expansion() -> None:
    loaded = load_suite(FIXTURES / "variants.yaml")
    plan = make_plan(loaded)
    tasks = list(iter_tasks(loaded))
    assert (plan.cells, plan.samples, plan.seeds, plan.replicates) == (11, 5, 1, 2)
    assert plan.tasks == plan.requests == len(tasks) == 110
    assert plan.results == sum(t.request["numberResults"] for t in tasks)
    assert [a.name for a in plan.axes] == [
        "settings.temperature",
        "settings.topP",
        "deliveryMethod",
        "prompt",
    ]
    assert plan.zip == [["settings.temperature", "settings.topP"]]
    assert (plan.exclude_rules, plan.include_rules) == (1, 1)


def test_token_and_cost_estimates() -> None:
    loaded = load_suite(FIXTURES / "basic.yaml")
    plan = make_plan(loaded)
    tasks = list(iter_tasks(loaded))
    expected_input = sum(
        math.ceil(
            (
                sum(len(m["content"]) for m in t.request["messages"])
                + len(t.request["settings"]["systemPrompt"])
            )
            / 4
        )
        for t in tasks
    )
    assert plan.input_tokens == expected_input
    assert plan.output_tokens_min == len(tasks)
    assert plan.output_tokens_max == 64 * len(tasks)
    assert PRICE is not None
    assert plan.cost_min_usd == pytest.approx(PRICE.cost(expected_input, len(tasks)))
    assert plan.cost_max_usd == pytest.approx(PRICE.cost(expected_input, 64 * len(tasks)))
    assert any("characters / 4" in n for n in plan.notes)


def test_unbounded_output_without_max_tokens(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: u\ndataset: {samples: [{input: hello}]}\nsettings: {numberResults: 2}\n")
    plan = make_plan(load_suite(path))
    assert plan.output_tokens_max is None and plan.cost_max_usd is None
    spec = get_spec("alibaba:qwen@3.5-27b")
    assert spec is not None and spec.context_tokens is not None
    assert plan.output_tokens_max_context == 2 * (spec.context_tokens - math.ceil(len("hello") / 4))
    assert plan.cost_max_context_usd is not None and plan.cost_max_context_usd > 0
    assert any("unbounded" in n for n in plan.notes)


def test_unknown_price_is_none_not_zero(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: u\ntarget: {model: 'acme:other@1'}\ndataset: {samples: [{input: hi}]}\nsettings: {maxTokens: 5}\n"
    )
    plan = make_plan(load_suite(path))
    assert plan.cost_min_usd is None and plan.cost_max_usd is None
    assert plan.output_tokens_max == 5
    assert any("no price" in n for n in plan.notes)
    assert any("no model spec" in w for w in plan.warnings)


def test_plan_json_command() -> None:
    result = CliRunner().invoke(cli, ["plan", "--json", str(FIXTURES / "variants.yaml")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tasks"] == 110 and data["cells"] == 11
    assert data["axes"][0] == {"name": "settings.temperature", "values": [0.2, 0.7]}


def test_plan_human_output() -> None:
    result = CliRunner().invoke(cli, ["plan", str(FIXTURES / "basic.yaml")])
    assert result.exit_code == 0, result.output
    assert "settings.temperature" in result.stdout and "tasks" in result.stdout and "24" in result.stdout


def test_plan_invalid_suite_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: b\ndataset: {samples: [{input: x}]}\nsettings: {temperature: 9}\n")
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 2
    assert "settings.temperature" in result.stderr and "Traceback" not in result.output


def test_plan_dataset_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: b\ndataset: {samples: [{input: x}]}\nprompt: {messages: [{role: user, content: '{nope}'}]}\n"
    )
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 2 and "nope" in result.stderr
