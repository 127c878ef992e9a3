"""Gate verdicts, multiple-testing corrections, validity and the CLI exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from evals.cli import main
from evals.errors import ConfigError, ExitCode, GateFailed
from evals.suite import Gate, MetricGate
from reports.compare import MetricResult, RunSummary
from reports.compare_render import print_terminal, to_html, to_json, to_junit, to_markdown
from reports.gate import BaselineMismatch, InvalidComparison, check_against_baseline, evaluate
from tests.reports.make_run import RunBuilder


def summary(
    scores: dict[str, np.ndarray],
    *,
    latency: dict[str, np.ndarray] | None = None,
    errored: int = 0,
    suite_hash: str = "h1",
    label: str = "run",
) -> RunSummary:
    """A RunSummary with one binary scorer ``ok``: ``scores`` maps cell id -> per-sample outcomes."""
    frames = []
    for cell, values in scores.items():
        n = len(values)
        lat = latency[cell] if latency else np.ones(n)
        frames.append(
            pd.DataFrame(
                {
                    "cell_id": cell,
                    "sample_id": [f"s{i}" for i in range(n)],
                    "n_tasks": 1,
                    "n_done": 1,
                    "n_errored": 0,
                    "latency_s": lat,
                    "ttft_s": lat / 10,
                    "cost_sum": 0.001,
                    "n_cost": 1,
                    "score:ok": values.astype(float),
                    "count:ok": 1,
                }
            )
        )
    units = pd.concat(frames, ignore_index=True)
    if errored:
        extra = units.iloc[:errored].copy()
        extra["sample_id"] = [f"e{i}" for i in range(errored)]
        extra[["n_done", "n_errored", "n_cost"]] = [0, 1, 0]
        extra[["latency_s", "ttft_s", "cost_sum", "score:ok"]] = np.nan
        extra["count:ok"] = 0
        units = pd.concat([units, extra], ignore_index=True)
    return RunSummary(
        label=label,
        suite_name="unit",
        suite_hash=suite_hash,
        harness_version="0.1.0",
        units=units,
        scorers={"ok": "binary"},
        cells={c: {"settings.temperature": i / 10} for i, c in enumerate(scores)},
    )


def outcomes(n10: int, n01: int, n11: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired outcomes with the given discordant and concordant counts."""
    base = np.array([1] * n10 + [0] * n01 + [1] * n11 + [0] * n00)
    new = np.array([0] * n10 + [1] * n01 + [1] * n11 + [0] * n00)
    return base, new


ACCURACY = Gate(metrics=[MetricGate(metric="ok", max_drop=0.02)], correction="none")


def verdict(report_results: list[MetricResult], metric: str = "ok") -> list[str]:
    return [r.verdict for r in report_results if r.metric == metric]


def test_a_clear_drop_fails_the_gate() -> None:
    b, n = outcomes(40, 5, 120, 35)  # 200 samples, accuracy 0.80 -> 0.625
    report = evaluate(summary({"c": b}), summary({"c": n}), ACCURACY)
    assert verdict(report.results) == ["fail"]
    assert not report.passed and report.exit_code == ExitCode.GATE_FAILED
    with pytest.raises(GateFailed, match="ok@c"):
        report.raise_for_status()


def test_no_change_is_ok_and_noise_is_inconclusive_not_a_failure() -> None:
    b, n = outcomes(10, 10, 150, 30)
    report = evaluate(summary({"c": b}), summary({"c": n}), ACCURACY)
    assert verdict(report.results) == ["inconclusive"]  # 200 samples cannot rule out a 2-point drop
    b, n = outcomes(3, 2, 5, 2)  # a large observed drop on 12 samples is noise
    report = evaluate(summary({"c": b}), summary({"c": n}), ACCURACY)
    assert verdict(report.results) in (["inconclusive"], ["ok"])
    assert report.passed and report.exit_code == ExitCode.OK
    b, n = outcomes(2, 2, 1500, 496)  # almost no discordance: the interval excludes a 2-point drop
    report = evaluate(summary({"c": b}), summary({"c": n}), ACCURACY)
    assert verdict(report.results) == ["ok"]


def test_an_improvement_is_reported_as_such() -> None:
    b, n = outcomes(2, 40, 120, 38)
    report = evaluate(summary({"c": b}), summary({"c": n}), ACCURACY)
    assert verdict(report.results) == ["improved"] and report.passed


def test_holm_and_bh_control_the_family_of_cells() -> None:
    # Each cell alone: one-sided exact McNemar p = P(Bin(15, 1/2) >= 12) = 0.018 < 0.05.
    cells = {f"c{i}": outcomes(12, 3, 60, 25) for i in range(5)}
    base = summary({c: v[0] for c, v in cells.items()})
    new = summary({c: v[1] for c, v in cells.items()})
    metric = MetricGate(metric="ok", max_drop=0.0)
    alone = evaluate(base, new, Gate(metrics=[metric], correction="none"))
    assert verdict(alone.results) == ["fail"] * 5
    holm = evaluate(base, new, Gate(metrics=[metric], correction="holm"))
    assert verdict(holm.results) == ["inconclusive"] * 5  # 5 x 0.018 > 0.05
    for r in holm.results:
        if r.metric == "ok":
            assert r.p_value is not None and r.p_adjusted == pytest.approx(min(1.0, 5 * r.p_value))
    bh = evaluate(base, new, Gate(metrics=[metric], correction="bh"))
    assert verdict(bh.results) == ["fail"] * 5  # equal p-values: BH keeps them all


def test_a_gated_metric_without_data_is_inconclusive_not_ignored() -> None:
    base = summary({"c": np.ones(20)})
    new = summary({"c": np.ones(20)})
    new.units["score:ok"] = np.nan
    new.units["count:ok"] = 0
    report = evaluate(base, new, ACCURACY)
    (row,) = [r for r in report.results if r.metric == "ok"]
    assert row.verdict == "inconclusive" and row.n == 0 and row.note == "nothing to pair"


def test_latency_growth_beyond_its_limit_fails() -> None:
    rng = np.random.default_rng(1)
    lat = rng.lognormal(0, 0.3, 300)
    ok = np.ones(300)
    gate = Gate(metrics=[MetricGate(metric="latency_p95", max_increase=0.2)])
    slow = evaluate(
        summary({"c": ok}, latency={"c": lat}), summary({"c": ok}, latency={"c": lat * 1.6}), gate
    )
    assert verdict(slow.results, "latency_p95") == ["fail"]
    same = evaluate(
        summary({"c": ok}, latency={"c": lat}), summary({"c": ok}, latency={"c": lat * 1.05}), gate
    )
    assert verdict(same.results, "latency_p95") == ["ok"]
    # Ungated metrics are measured for reading only.
    assert verdict(same.results, "latency_p50") == ["info"]


def test_too_many_errored_tasks_make_the_comparison_invalid() -> None:
    b, n = outcomes(10, 10, 150, 30)
    report = evaluate(summary({"c": b}), summary({"c": n}, errored=20), ACCURACY)
    assert not report.valid and report.exit_code == ExitCode.RUN_FAILED
    assert "infrastructure error" in report.validity.reasons[0]
    with pytest.raises(InvalidComparison) as exc:
        report.raise_for_status()
    assert exc.value.exit_code == 3


def test_nothing_to_pair_is_invalid() -> None:
    report = evaluate(summary({"c": np.ones(5)}), summary({"d": np.ones(5)}), ACCURACY)
    assert report.exit_code == ExitCode.RUN_FAILED
    assert "no (cell, sample)" in report.validity.reasons[0]


def test_a_baseline_of_another_suite_version_is_refused_with_the_difference() -> None:
    base = summary({"c": np.ones(10), "d": np.ones(10)}, suite_hash="old", label="base.json")
    new = summary({"c": np.ones(12)}, suite_hash="new")
    with pytest.raises(
        BaselineMismatch, match="2 cells, 10 samples.*1 cells, 12 samples.*1 cells only in the baseline"
    ):
        evaluate(base, new, ACCURACY)
    report = evaluate(base, new, ACCURACY, allow_suite_change=True)
    assert report.warnings and report.validity.paired_units == 10


def test_gate_configuration_errors() -> None:
    s = summary({"c": np.ones(10)})
    with pytest.raises(ConfigError, match="not measured"):
        evaluate(s, s, Gate(metrics=[MetricGate(metric="bleu", max_drop=0.1)]))
    with pytest.raises(ConfigError, match="max_increase"):
        evaluate(s, s, Gate(metrics=[MetricGate(metric="latency_p95", max_drop=0.1)]))
    with pytest.raises(ValueError, match="not both"):
        MetricGate(metric="ok", max_drop=0.1, max_increase=0.1)


def test_renderers_agree_and_escape() -> None:
    b, n = outcomes(40, 5, 120, 35)
    base, new = summary({"c": b}), summary({"c": n})
    new.cells["c"] = {"prompt": "<script>x</script>|pipe"}
    report = evaluate(base, new, ACCURACY)
    md = to_markdown(report)
    assert "Regression gate FAILED" in md and "**FAIL**" in md and "\\|pipe" in md
    html = to_html(report)
    assert "<script>" not in html and "&lt;script&gt;" in html and "verdict-fail" in html
    root = ET.fromstring(to_junit(report))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "2"
    doc = json.loads(to_json(report))
    assert doc["passed"] is False and doc["exit_code"] == 1
    assert [r["verdict"] for r in doc["results"] if r["metric"] == "ok"] == ["fail"]
    console = Console(record=True, width=200)
    print_terminal(report, console)
    text = console.export_text()
    assert "fail" in text and "gate FAILED" in text
    assert "[x1.000, x1.000]" in text  # ratio intervals survive rich's markup parser


def test_section_and_checks_go_into_the_run_report(tmp_path: Path) -> None:
    from reports.compare_render import checks, section
    from reports.gate import compare_paths
    from reports.render import write_reports
    from tests.reports.make_run import standard_run

    run = standard_run(tmp_path / "run")
    report = compare_paths(
        run, run, {"metrics": [{"metric": "exact", "max_drop": 0.0}], "max_error_rate": 0.2}
    )
    assert [c.passed for c in checks(report)] == [True, True, True]  # validity + two cells
    write_reports(run, extra_sections=[section(report)], checks=checks(report))
    html = (run / "report.html").read_text()
    assert "Comparison with the baseline" in html and "verdict-ok" in html
    assert "comparison is valid" in (run / "junit.xml").read_text()


def _write_run(
    path: Path, accuracy_drop: float, seed: int, *, status: str = "completed", errors: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    p = np.random.default_rng(0).beta(3, 1, 150)  # per-sample difficulty shared by both runs
    b = RunBuilder(run_id=path.name, suite_name="cli", status=status)
    b.cell("c1", {"settings.temperature": 0.2})
    for i in range(150):
        ok = bool(rng.random() < p[i] - accuracy_drop)
        b.task("c1", f"s{i}", results=[("x", float(ok), ok)])
    for i in range(errors):
        b.task("c1", f"e{i}", status="errored", error=("transient", "serverBusy"), cost=None)
    return b.write(path)


def test_check_against_baseline_end_to_end(tmp_path: Path) -> None:
    from reports.baseline import save_baseline

    base_file = save_baseline(_write_run(tmp_path / "a", 0.0, 1), tmp_path / "base.json")
    gate = Gate(metrics=[MetricGate(metric="exact", max_drop=0.02)])
    good = check_against_baseline(_write_run(tmp_path / "b", 0.0, 1), base_file, gate)
    assert good.exit_code == ExitCode.OK
    bad = check_against_baseline(_write_run(tmp_path / "c", 0.5, 2), base_file, gate)
    assert bad.exit_code == ExitCode.GATE_FAILED


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write_run(tmp_path / "a", 0.0, 1)
    same = _write_run(tmp_path / "same", 0.0, 1)
    worse = _write_run(tmp_path / "worse", 0.5, 2)
    broken = _write_run(tmp_path / "broken", 0.0, 1, errors=40)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        # The suite loader checks gate metrics against the suite's scorers: declare the one gated.
        "name: cli\ndataset:\n  samples: [{input: x}]\nscorers: [{name: exact_match, id: exact}]\n"
        "gate:\n  metrics:\n    - {metric: exact, max_drop: 0.02}\n"
    )
    md, junit = tmp_path / "out" / "summary.md", tmp_path / "out" / "junit.xml"
    assert _exit_code(["compare", str(a), str(same), "--suite", str(suite), "--markdown", str(md)]) == 0
    assert "Regression gate passed" in md.read_text()
    assert _exit_code(["compare", str(a), str(worse), "--suite", str(suite), "--junit", str(junit)]) == 1
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    out_json = tmp_path / "out" / "c.json"
    assert _exit_code(["compare", str(a), str(broken), "-q", "--json", str(out_json)]) == 3
    assert json.loads(out_json.read_text())["validity"]["valid"] is False
    bad_gate = tmp_path / "bad.yaml"
    bad_gate.write_text(
        "name: cli\ndataset:\n  samples: [{input: x}]\ngate:\n  metrics:\n    - {metric: bleu, max_drop: 1}\n"
    )
    assert _exit_code(["compare", str(a), str(same), "--suite", str(bad_gate)]) == 2
    assert "bleu" in capsys.readouterr().err
