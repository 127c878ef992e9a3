"""write_reports and `evals report`: every format, escaping, self-containment, sections, checks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from evals.cli import main
from evals.errors import ConfigError
from reports.render import Check, Section, write_reports
from tests.reports.make_run import RunBuilder


def test_all_formats_are_written(std_run: Path) -> None:
    paths = write_reports(std_run, ["html", "md", "junit", "csv", "parquet"])
    names = {p.relative_to(std_run).as_posix() for p in paths}
    assert {
        "report.html",
        "summary.md",
        "junit.xml",
        "frames/tasks.csv",
        "frames/cell_summary.parquet",
    } <= names
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    # Exports round-trip with their values.
    tasks = pd.read_parquet(std_run / "frames" / "tasks.parquet")
    assert len(tasks) == 8 and str(tasks["completion_tokens"].dtype) == "Int64"
    summary = pd.read_csv(std_run / "frames" / "cell_summary.csv")
    assert summary["mean"].tolist() == pytest.approx([0.75, 2 / 3])


def test_unknown_format_is_refused(std_run: Path) -> None:
    with pytest.raises(ConfigError, match="pdf"):
        write_reports(std_run, ["pdf"])


def test_html_is_self_contained_and_escaped(std_run: Path) -> None:
    (path,) = write_reports(std_run, ["html"])
    html = path.read_text(encoding="utf-8")
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:;' in html
    # No attribute may point anywhere but into the page or a data: URI.
    for attr in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html):
        assert attr.startswith(("data:", "#")), attr
    assert not re.search(r"https?://", html)
    # Model output is text, never markup.
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('src="data:image/png;base64,') >= 5
    # The per-sample view shows prompt, reasoning, explanation, and failures first.
    assert "[user] What is 2 + 2?" in html and "2 plus 2" in html and "expected 4, got 5" in html
    rows = re.findall(r'<tr class="(fail-row|ok)">', html)
    assert rows[:3] == ["fail-row"] * 3 and set(rows[3:]) == {"ok"}


def test_sample_cap_is_stated_in_the_page(std_run: Path) -> None:
    write_reports(std_run, ["html"], sample_limit=2)
    html = (std_run / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<tr class="(?:fail-row|ok)">', html)) == 2
    assert "2 of 8 rows shown (one per result, or per errored task), failures first" in html


def test_markdown_summary(std_run: Path) -> None:
    (path,) = write_reports(std_run, ["md"], extra_sections=[Section("Comparison", markdown="all **green**")])
    md = path.read_text(encoding="utf-8")
    assert md.startswith("## standard · `standard`")
    assert (
        "| temperature=0.2 | exact | 4 | 0.750 [0.301, 0.954] | 0.75 (k=1) | 0.0% | 1.00 s | 1.42 s | $0.001 |"
        in md
    )
    assert "| temperature=0.8 | permanent | invalidParameter | 1 | 25.0% |" in md
    assert md.rstrip().endswith("### Comparison\n\nall **green**")


def test_extra_sections_in_html(std_run: Path) -> None:
    sections = [
        Section("From markdown", markdown="| a |\n|---|\n| <b>x</b> |"),
        Section("From html", html="<p class='cmp'>trusted</p>"),
    ]
    (path,) = write_reports(std_run, ["html"], extra_sections=sections)
    html = path.read_text(encoding="utf-8")
    assert "<h2>From markdown</h2>" in html and "<table>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html  # raw HTML in Markdown is not trusted
    assert "<p class='cmp'>trusted</p>" in html


def _cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_junit_reports_gate_metrics_and_limits(tmp_path: Path) -> None:
    b = RunBuilder(gate={"max_error_rate": 0.2, "metrics": [{"metric": "exact"}, {"metric": "latency_p95"}]})
    b.cell("c1", {"settings.temperature": 0.5})
    b.task("c1", "s1", results=[("4", 1.0, True)])
    b.task("c1", "s2", status="errored", error=("permanent", "invalidParameter"), usage=(None, None, None))
    run_dir = b.write(tmp_path / "r")
    write_reports(
        run_dir, ["junit"], checks=[Check("from the gate", "gate", passed=False, message="dropped")]
    )
    cases = _cases(run_dir / "junit.xml")
    assert set(cases) == {
        "error_rate",
        "exact[temperature=0.5]",
        "latency_p95[temperature=0.5]",
        "from the gate",
    }
    failure = cases["error_rate"].find("failure")
    assert failure is not None and "1 of 2 tasks errored (50.0%); limit 20.0%" in failure.get("message", "")
    assert cases["exact[temperature=0.5]"].find("failure") is None
    assert cases["from the gate"].find("failure") is not None
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("4", "2")


def test_junit_per_sample_cases(std_run: Path) -> None:
    write_reports(std_run, ["junit"], junit_samples=True)
    cases = _cases(std_run / "junit.xml")
    assert cases["c-cold/s4/0"].find("failure") is not None
    assert cases["c-cold/s1/0"].find("failure") is None
    assert "c-hot/s3/0" in cases  # the errored task


def test_cli_report(std_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["report", str(std_run), "--format", "md,junit"])
    out = capsys.readouterr().out.split()
    assert out == [str(std_run / "summary.md"), str(std_run / "junit.xml")]
    with pytest.raises(SystemExit) as exc:
        main(["report", str(std_run), "--format", "docx"])
    assert exc.value.code == 2
    assert "unknown report format docx" in capsys.readouterr().err


def test_cli_report_without_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path)])
    assert exc.value.code == 2
    assert "no run database" in capsys.readouterr().err


def test_empty_run_still_renders(tmp_path: Path) -> None:
    b = RunBuilder()
    b.cell("c1")
    run_dir = b.write(tmp_path / "empty")
    paths = write_reports(run_dir, ["html", "md", "junit", "csv"])
    assert "Nothing to show" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert len(paths) > 3


def test_other_scorers_are_shown_per_sample(tmp_path: Path) -> None:
    b = RunBuilder(scorers=["exact", "judge"], gate=None)
    b.cell("c1")
    tid = b.task("c1", "s1", results=[("4", 1.0, True)])
    b.add_score(tid, 0, "judge", 0.25, None, error=None)
    b.add_score(tid, 0, "judge", 0.5, None, pass_id=2)
    b.task("c1", "s2", results=[("5", 0.0, False)])
    run_dir = b.write(tmp_path / "r")
    write_reports(run_dir, ["html"])
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.count("<h3>Other scorers</h3>") == 1  # only s1 has another scorer
    assert '<tr><td>judge</td><td class="n">0.5</td>' in html  # its latest pass
    assert "0.25" not in html
