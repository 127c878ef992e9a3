"""Fixtures of the report tests: run databases built by ``tests/reports/make_run.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reports.make_run import RunBuilder, standard_run


@pytest.fixture
def std_run(tmp_path: Path) -> Path:
    """The two-cell run described in ``standard_run``'s docstring."""
    return standard_run(tmp_path / "std")


@pytest.fixture
def replicate_run(tmp_path: Path) -> Path:
    """One cell, three samples, four results each (2 replicates x numberResults 2).

    Passed results per sample: s1 4/4, s2 1/4, s3 0/4; a continuous scorer ``sim`` too.
    """
    b = RunBuilder(run_id="reps", scorers=["exact", "sim"])
    b.cell("c1", {"settings.topP": 0.9}, number_results=2)
    outcomes = {"s1": [True, True, True, True], "s2": [True, False, False, False], "s3": [False] * 4}
    for sample, passes in outcomes.items():
        for rep in range(2):
            pair = passes[2 * rep : 2 * rep + 2]
            tid = b.task(
                "c1", sample, replicate=rep, results=[("x", float(p), p) for p in pair], scorer="exact"
            )
            for i, p in enumerate(pair):
                b.add_score(tid, i, "sim", 0.5 + 0.5 * p if sample != "s3" else 0.25, None)
    return b.write(tmp_path / "reps")
