"""Benchmark: build every report from a synthetic run of one million results.

    .venv/bin/python benchmarks/bench_reports.py                  # 1,000,000 results
    .venv/bin/python benchmarks/bench_reports.py --results 200000 --keep /tmp/bench-run [--reuse]

The run is a 5 x 5 sweep (temperature x topP), numberResults 4, two replicates per sample, half the
cells streamed (with token events), 2% errored tasks, 5% cache hits, a pass/fail scorer and a
continuous one. The database is written with the schema in ``evals/store_schema.sql``; generating it
is timed apart from the reports. Prints the time of each step and the peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

TEMPERATURES = (0.0, 0.3, 0.6, 0.9, 1.2)
TOP_PS = (0.5, 0.7, 0.8, 0.9, 1.0)
RESULTS_PER_TASK = 4
REPLICATES = 2
EVENTS_PER_STREAM = 16


def generate(run_dir: Path, n_results: int, seed: int = 0) -> Path:
    """Write ``run_dir/run.sqlite`` with ``n_results`` results (rounded to whole tasks)."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    db = run_dir / "run.sqlite"
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.executescript(resources.files("evals").joinpath("store_schema.sql").read_text(encoding="utf-8"))
    con.execute("INSERT INTO schema_version VALUES (1)")
    con.execute(
        "INSERT INTO run (run_id, suite_name, suite_text, suite_hash, expanded_json, harness_version, provider,"
        " model, status, started_at, ended_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            "bench",
            "bench-sweep",
            "name: bench-sweep\n",
            "bench",
            json.dumps(
                {"scorers": [{"name": "exact"}, {"name": "similarity"}], "gate": {"max_error_rate": 0.05}}
            ),
            "0.1.0",
            "sim",
            "alibaba:qwen@3.5-27b",
            "completed",
            "2026-01-01T00:00:00+00:00",
            "2026-01-01T01:00:00+00:00",
        ),
    )
    cells = [(t, p) for t in TEMPERATURES for p in TOP_PS]
    for i, (t, p) in enumerate(cells):
        con.execute(
            "INSERT INTO cells VALUES (?,?,?,?,?,?,?)",
            (
                f"cell{i:02d}",
                json.dumps({"settings.temperature": t, "settings.topP": p}),
                "alibaba:qwen@3.5-27b",
                json.dumps({"temperature": t, "topP": p}),
                RESULTS_PER_TASK,
                "stream" if i % 2 == 0 else "sync",
                None,
            ),
        )
    n_tasks = max(len(cells) * REPLICATES, n_results // RESULTS_PER_TASK)
    per_cell = n_tasks // len(cells)
    # Rows are buffered per cell and written with executemany (one cell at a time bounds memory).
    tasks_rows: list[tuple[Any, ...]] = []
    attempt_rows: list[tuple[Any, ...]] = []
    result_rows: list[tuple[Any, ...]] = []
    score_rows: list[tuple[Any, ...]] = []
    clock = 0.0
    request = json.dumps({"messages": [{"role": "user", "content": "What is 6 x 7?"}], "settings": {}})
    for ci, (temp, top_p) in enumerate(cells):
        cell_id = f"cell{ci:02d}"
        stream = ci % 2 == 0
        skill = 0.9 - 0.25 * temp + 0.1 * top_p  # the score moves with the axes, as a sweep should show
        n = per_cell
        errored = rng.random(n) < 0.02
        cache = (rng.random(n) < 0.05) & ~errored
        latency = rng.gamma(4.0, 0.5, n)
        ttft = latency * rng.uniform(0.05, 0.2, n)
        tokens = rng.integers(20, 400, n)
        sent = clock + np.cumsum(rng.exponential(0.01, n))
        clock = float(sent[-1])
        passed = rng.random((n, RESULTS_PER_TASK)) < skill
        for j in range(n):
            task_id = f"{cell_id}-{j:07d}"
            sample = f"s{j // REPLICATES:06d}"
            status = "errored" if errored[j] else "done"
            cost = None if errored[j] else float(tokens[j]) * 1.326e-6 + 200 * 0.165e-6
            tasks_rows.append(
                (
                    task_id, cell_id, sample, j % REPLICATES, j, request, '{"target": "42"}', status,
                    "transient" if errored[j] else None, "serverBusy" if errored[j] else None,
                    "503 after 5 attempts" if errored[j] else None, 1, int(cache[j]),
                    None if errored[j] else 200, None if errored[j] else int(tokens[j]),
                    None if errored[j] else 200 + int(tokens[j]), 0 if not errored[j] else None,
                    cost, 0.0 if cache[j] else cost,
                )
            )  # fmt: skip
            if cache[j]:
                pass  # a cache hit has no attempt in this run
            else:
                s, d = float(sent[j]), float(sent[j] + latency[j])
                first = s + float(ttft[j]) if stream and not errored[j] else None
                events = (
                    json.dumps(np.round(np.linspace(first, d, EVENTS_PER_STREAM), 4).tolist())
                    if first is not None
                    else None
                )
                attempt_rows.append(
                    (task_id, 1, task_id, 503 if errored[j] else 200, "transient" if errored[j] else None,
                     s, s, first, d if first is not None else None, d, events)
                )  # fmt: skip
            if errored[j]:
                continue
            for r in range(RESULTS_PER_TASK):
                ok = bool(passed[j, r])
                result_rows.append(
                    (task_id, r, "42" if ok else "41", "stop" if ok else "length", int(tokens[j]))
                )
                score_rows.append((task_id, r, "exact", float(ok), int(ok), None if ok else "expected 42"))
                score_rows.append((task_id, r, "similarity", 0.5 + 0.5 * ok * rng.random(), None, None))
        _flush(con, tasks_rows, attempt_rows, result_rows, score_rows)
    con.commit()
    con.close()
    return run_dir


def _flush(
    con: sqlite3.Connection,
    tasks: list[tuple[Any, ...]],
    attempts: list[tuple[Any, ...]],
    results: list[tuple[Any, ...]],
    scores: list[tuple[Any, ...]],
) -> None:
    con.executemany(
        "INSERT INTO tasks (task_id, cell_id, sample_id, replicate, seed, request_json, sample_json, status,"
        " error_class, error_code, error_message, attempts, cache_hit, usage_prompt_tokens,"
        " usage_completion_tokens, usage_total_tokens, usage_thinking_tokens, cost, cost_spent)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        tasks,
    )
    con.executemany(
        "INSERT INTO attempts (task_id, number, task_uuid, http_status, error_class, t_queued, t_sent,"
        " t_first_token, t_last_token, t_done, token_events_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        attempts,
    )
    con.executemany(
        "INSERT INTO results (task_id, result_index, text, finish_reason, completion_tokens) VALUES (?,?,?,?,?)",
        results,
    )
    con.executemany(
        "INSERT INTO scores (task_id, result_index, scorer, value, passed, explanation) VALUES (?,?,?,?,?,?)",
        scores,
    )
    for rows in (tasks, attempts, results, scores):
        rows.clear()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the run here and keep it (default: a temp dir)")
    parser.add_argument("--formats", default="html,md,junit")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse a run generated before")
    args = parser.parse_args(argv)

    from reports.frames import load
    from reports.latency import latency_table
    from reports.render import write_reports

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        t0 = time.perf_counter()
        if not (args.reuse and (run_dir / "run.sqlite").exists()):
            generate(run_dir, args.results)
        t1 = time.perf_counter()
        print(
            f"generate {args.results:,} results: {t1 - t0:6.1f} s  ({(run_dir / 'run.sqlite').stat().st_size / 1e6:.0f} MB)"
        )
        run = load(run_dir, texts=False)
        t2 = time.perf_counter()
        print(f"load manifest, cells, tasks: {t2 - t1:6.1f} s  ({len(run.tasks):,} tasks)")
        run.cell_summary()
        t3 = time.perf_counter()
        print(f"cell summary:           {t3 - t2:6.1f} s")
        latency_table(run)
        t4 = time.perf_counter()
        print(f"latency table:          {t4 - t3:6.1f} s")
        del run
        paths = write_reports(run_dir, args.formats.split(","))
        t5 = time.perf_counter()
        print(f"write_reports:          {t5 - t4:6.1f} s  ({', '.join(p.name for p in paths[:4])}, ...)")
        html = run_dir / "report.html"
        if html.exists():
            print(f"report.html:            {html.stat().st_size / 1e6:6.1f} MB")
        print(f"reports total:          {t5 - t1:6.1f} s; peak memory {_peak_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
