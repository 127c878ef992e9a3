"""Benchmark: ``evals plan`` over a generated suite of one million tasks.

    .venv/bin/python benchmarks/bench_plan.py [--tasks-sample N]

Writes a suite (1000 generated samples x 100 temperatures x 10 topK values = 1,000,000 tasks) to a
temporary directory, runs `evals plan --json` on it in-process, then streams the first N tasks of
the expansion (all of them by default) to measure the expansion rate. Reports wall time, tasks/s and peak RSS; fails (exit 1)
when peak RSS exceeds 200 MB, which would mean something materialises the tasks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

SUITE = """\
name: bench-million
description: One million tasks, for the plan benchmark.
target: {provider: sim}
dataset:
  generator: arithmetic
  params: {n: 1000, difficulty: 3}
  seed: 7
prompt:
  system: "Answer with a number only."
  messages:
    - {role: user, content: "{input}"}
settings:
  maxTokens: 256
grid:
  settings:
    temperature: {from: 0.0, to: 0.99, step: 0.01}
    topK: [1, 5, 10, 20, 30, 40, 50, 60, 80, 100]
"""

RSS_LIMIT_MB = 200.0


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-sample", type=int, default=1_000_000, help="tasks to stream after planning")
    args = parser.parse_args()

    from evals.cli import main as evals_main
    from evals.expand import iter_tasks
    from evals.suite_loader import load_suite

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "million.yaml"
        path.write_text(SUITE, encoding="utf-8")

        # The command itself, in-process: `evals plan --json SUITE`.
        output = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(output):
            evals_main(["plan", "--json", str(path)])
        plan_seconds = time.perf_counter() - start
        plan = json.loads(output.getvalue())
        tasks = int(plan["tasks"])
        print(f"evals plan: {plan['cells']:,} cells x {plan['samples']:,} samples = {tasks:,} tasks")
        print(f"evals plan: {plan_seconds:.2f} s, {tasks / plan_seconds:,.0f} tasks/s planned")
        print(
            f"evals plan: est. input tokens {plan['input_tokens']:,},"
            f" cost ${plan['cost_min_usd']:.2f}..${plan['cost_max_usd']:.2f}"
        )

        loaded = load_suite(path)
        start = time.perf_counter()
        streamed = sum(1 for _ in itertools.islice(iter_tasks(loaded), args.tasks_sample))
        expand_seconds = time.perf_counter() - start
        print(
            f"expand: {streamed:,} tasks streamed in {expand_seconds:.2f} s, {streamed / expand_seconds:,.0f} tasks/s"
        )

    rss = peak_rss_mb()
    print(f"peak RSS: {rss:.1f} MB (limit {RSS_LIMIT_MB:.0f} MB)")
    if tasks != 1_000_000:
        print(f"FAIL: expected 1,000,000 tasks, planned {tasks:,}", file=sys.stderr)
        return 1
    if rss > RSS_LIMIT_MB:
        print("FAIL: peak RSS over the limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
