"""`evals plan --detect`: the gate's power plan, through the CLI the way a user asks for it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from evals.cli import cli

SUITES = Path(__file__).resolve().parents[2] / "suites"


def test_detect_adds_a_power_plan_to_the_json() -> None:
    result = CliRunner().invoke(
        cli, ["plan", "--json", "--detect", "0.2", "--p0", "0.7", str(SUITES / "ci-regression.yaml")]
    )
    assert result.exit_code == 0, result.output
    power = json.loads(result.stdout)["power"]
    assert power["drop"] == 0.2 and power["p0"] == 0.7 and power["power"] == 0.8
    assert power["samples"] == 80
    # The suite's 80 samples are sized to catch a drop of about 0.19: a 0.2 drop needs no more than
    # it has, and the smallest drop it catches is at most 0.2.
    assert power["detectable_drop"] <= 0.2
    assert power["required_samples"] is not None and power["required_samples"] <= 80


def test_higher_power_needs_more_samples() -> None:
    def required(power: str) -> int:
        result = CliRunner().invoke(
            cli,
            [
                "plan",
                "--json",
                "--detect",
                "0.1",
                "--p0",
                "0.5",
                "--power",
                power,
                str(SUITES / "ci-regression.yaml"),
            ],
        )
        assert result.exit_code == 0, result.output
        return int(json.loads(result.stdout)["power"]["required_samples"])

    assert required("0.9") > required("0.8")


def test_detect_out_of_range_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["plan", "--detect", "1.5", str(SUITES / "smoke.yaml")])
    assert result.exit_code == 2
