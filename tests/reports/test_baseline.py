"""Baseline files: round trip, diff-friendly layout, refusal of other suite versions, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evals.cli import main
from evals.errors import ConfigError
from reports.baseline import FORMAT, is_baseline_file, load_baseline, save_baseline
from reports.compare import summarize_run
from reports.gate import BaselineMismatch, compare_paths
from tests.reports.make_run import RunBuilder, standard_run


def test_round_trip_keeps_the_unit_table(tmp_path: Path) -> None:
    run = standard_run(tmp_path / "run")
    path = save_baseline(run, tmp_path / "base.json")
    loaded = load_baseline(path)
    original = summarize_run(run)
    assert loaded.suite_hash == original.suite_hash == "hash-standard"
    assert loaded.harness_version == "0.1.0" and loaded.scorers == {"exact": "binary"}
    assert loaded.cells == original.cells
    pd.testing.assert_frame_equal(
        loaded.units[original.units.columns], original.units, check_dtype=False, check_exact=False, rtol=1e-9
    )


def test_the_file_is_sorted_json_with_one_sample_per_line(tmp_path: Path) -> None:
    path = save_baseline(standard_run(tmp_path / "run"), tmp_path / "base.json")
    text = path.read_text()
    doc = json.loads(text)
    assert doc["format"] == FORMAT and doc["counts"] == {"cells": 2, "samples": 4, "tasks": 8, "errored": 1}
    assert doc["metrics"]["c-cold"]["exact"] == 0.75
    lines = text.splitlines()
    keys = [
        json.loads("{" + line.rstrip(",") + "}")
        for line in lines[1:]
        if line.startswith('"') and line != '"units": ['
    ]
    assert [next(iter(k)) for k in keys] == sorted(doc)[:-1]  # every key but "units", in order
    unit_lines = lines[lines.index('"units": [') + 1 : -2]
    assert len(unit_lines) == 8 and all(json.loads(u.rstrip(","))["sample_id"] for u in unit_lines)


def test_a_run_compared_with_its_own_baseline_passes(tmp_path: Path) -> None:
    run = standard_run(tmp_path / "run")
    path = save_baseline(run, tmp_path / "base.json")
    report = compare_paths(
        path, run, {"metrics": [{"metric": "exact", "max_drop": 0.0}], "max_error_rate": 0.2}
    )
    assert report.passed
    assert {r.verdict for r in report.results if r.metric == "exact"} == {"ok"}


def test_a_baseline_of_another_suite_is_refused(tmp_path: Path) -> None:
    path = save_baseline(standard_run(tmp_path / "run"), tmp_path / "base.json")
    other = RunBuilder(suite_name="other")
    other.cell("c-cold")
    other.task("c-cold", "s1", results=[("4", 1.0, True)])
    with pytest.raises(BaselineMismatch, match=r"2 cells, 4 samples.*1 cells, 1 samples"):
        compare_paths(path, other.write(tmp_path / "other"))


def test_malformed_files_are_configuration_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="not a baseline file"):
        load_baseline(bad)
    bad.write_text('{"format": "evals-baseline", "format_version": 99}')
    with pytest.raises(ConfigError, match="version 99"):
        load_baseline(bad)
    bad.write_text("not json")
    with pytest.raises(ConfigError, match="not a readable"):
        load_baseline(bad)
    run = standard_run(tmp_path / "run")
    assert not is_baseline_file(run / "run.sqlite") and is_baseline_file(bad)


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_save(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = standard_run(tmp_path / "run")
    out = tmp_path / "suites" / "base.json"
    assert _exit_code(["baseline", "save", str(run), "--out", str(out)]) == 0
    assert "2 cells, 4 samples, 8 tasks, 12.5% errored" in capsys.readouterr().out
    assert load_baseline(out).suite_name == "standard"
    partial = RunBuilder(suite_name="p", status="interrupted")
    partial.cell("c")
    partial.task("c", "s", results=[("4", 1.0, True)])
    pdir = partial.write(tmp_path / "partial")
    assert _exit_code(["baseline", "save", str(pdir), "--out", str(tmp_path / "p.json")]) == 2
    assert "interrupted" in capsys.readouterr().err
    assert (
        _exit_code(["baseline", "save", str(pdir), "--out", str(tmp_path / "p.json"), "--allow-incomplete"])
        == 0
    )
    assert _exit_code(["baseline", "save", str(tmp_path), "--out", str(tmp_path / "x.json")]) == 2
