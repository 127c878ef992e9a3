"""What `evals compare` and `evals runs` tell a reader: cache warnings, wide tables in CI logs,
cells named by their axes and sorted by them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evals.cli import main
from reports.baseline import load_baseline, save_baseline
from reports.compare_render import print_terminal, rows, to_json, to_junit, to_markdown
from reports.gate import compare_paths
from tests.reports.make_run import RunBuilder

GATE = {"metrics": [{"metric": "exact", "max_drop": 0.1}, {"metric": "latency_p95", "max_increase": 0.5}]}


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _run(path: Path, *, cached: int = 0, temps: tuple[float, ...] = (0.7,), samples: int = 10) -> Path:
    """``samples`` passing samples per cell, the first ``cached`` of each served from the cache."""
    b = RunBuilder(run_id=path.name, suite_name="cmp")
    for i, temp in enumerate(temps):
        cell = f"c{i}-{'f' * 12}{i}"  # hash-like ids that sort against the temperatures
        b.cell(cell, {"settings.temperature": temp})
        for k in range(samples):
            hit = k < cached
            b.task(
                cell,
                f"s{k}",
                results=[("4", 1.0, True)],
                cache_hit=hit,
                latency=None if hit else (0, 0.1, 0.4, 0.5),
            )
    return b.write(path)


def test_a_mostly_cached_new_run_is_warned_about_everywhere(tmp_path: Path) -> None:
    # Regression: the README's CI recipe compared a baseline with a cached rerun; latency was n/a
    # and the gate "passed" without a word.
    base = _run(tmp_path / "base")
    new = _run(tmp_path / "new", cached=10)
    report = compare_paths(base, new, GATE)
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert "new run" in warning and "10 of 10" in warning and "--no-cache" in warning
    assert json.loads(to_json(report))["warnings"] == [warning]
    md = to_markdown(report)
    assert md.index("> **Warning:**") < md.index("| cell |")  # above the table
    validity = ET.fromstring(to_junit(report)).find("testsuite/testcase")
    assert validity is not None and "--no-cache" in (validity.findtext("system-err") or "")
    # The baseline side is checked too; a run with a few hits is not "mostly" cached.
    assert "baseline" in compare_paths(new, base, GATE).warnings[0]
    assert compare_paths(base, _run(tmp_path / "few", cached=5), GATE).warnings == []


def test_cache_warning_survives_a_baseline_file_and_old_files_stay_silent(tmp_path: Path) -> None:
    cached_file = save_baseline(_run(tmp_path / "cached", cached=9), tmp_path / "b.json")
    assert load_baseline(cached_file).cached == (9, 10)
    report = compare_paths(cached_file, _run(tmp_path / "new"), GATE)
    assert any(w.startswith(f"baseline {cached_file}") for w in report.warnings)
    # A baseline saved before n_cached existed says nothing about the cache: no warning, no crash.
    doc = json.loads(cached_file.read_text())
    for unit in doc["units"]:
        del unit["n_cached"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    assert load_baseline(old).cached is None
    assert compare_paths(old, _run(tmp_path / "new2"), GATE).warnings == []


def test_quiet_compare_still_prints_the_cache_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, new = _run(tmp_path / "base"), _run(tmp_path / "new", cached=10)
    assert _exit_code(["compare", str(base), str(new), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("gate passed")
    assert "WARNING: new run" in captured.err


def test_comparison_table_in_a_ci_log_is_wide_and_names_cells_by_axes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: not a TTY, rich assumed 80 columns and printed "c1-e5…" and "finis…".
    base = _run(tmp_path / "base", temps=(0.7, 0.2, 1.0))
    new = _run(tmp_path / "new", temps=(0.7, 0.2, 1.0))
    report = compare_paths(base, new, GATE)
    print_terminal(report)  # capsys: stdout is not a terminal
    out = capsys.readouterr().out
    assert "…" not in out
    assert "temperature=0.7" in out and "latency_p95" in out and "cost_per_task" in out
    assert "c0-ffff" not in out  # the axis label, not the hash id
    gated = [r["cell"] for r in rows(report, gated_only=True) if r["metric"] == "exact"]
    assert gated == ["temperature=0.2", "temperature=0.7", "temperature=1.0"]  # by value, not by id
    assert _exit_code(["compare", str(base), str(new)]) == 0
    assert "…" not in capsys.readouterr().out


def test_runs_lists_wide_without_a_tty_and_a_missing_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    _run(root / "smoke-20260101T000000")
    assert _exit_code(["runs", str(root)]) == 0
    out = capsys.readouterr().out
    # 80 columns would cut these to "run…", "smo…", "com…".
    assert "…" not in out and f"{root}/smoke-20260101T000000" in out and "completed" in out
    assert _exit_code(["runs", str(tmp_path / "nonexistent")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nonexistent" in err and "no such directory" in err
