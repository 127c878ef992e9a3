"""End-to-end throughput of the runner against the sim engine, beside a minimal raw client loop.

    .venv/bin/python benchmarks/bench_runner.py [--tasks 2000] [--concurrency 1 64 256]

For each concurrency it measures, against the same zero-latency sim server (in its own process, so
its CPU is not charged to the harness):

- the harness: ``run_suite`` end to end (expand, send, store every attempt and result, score),
  tasks per second and the harness's CPU time per task;
- a raw loop: the same requests posted with a bare ``httpx.AsyncClient`` (uvloop when installed)
  under the same concurrency, storing nothing.

It prints both, their ratio, and the harness's CPU per task. The harness aims for at least half the
raw loop's throughput at concurrency 64 and 256.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx

SERVER_SCRIPT = """
import sys, json
from runners.server import ServerConfig, serve_in_background
config = ServerConfig(engine="sim", sim={"zero_latency": True}, queue_size=100000)
with serve_in_background(config, log_level="error") as handle:
    print(handle.url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def write_suite(directory: Path, tasks: int) -> Path:
    # Samples in a JSONL file, as a real suite would have them (inline YAML would time the YAML parser).
    data = directory / "samples.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for i in range(tasks):
            f.write(
                json.dumps({"id": f"s{i}", "input": f"what is {i}? [[answer:{i}]]", "target": str(i)}) + "\n"
            )
    suite = {
        "name": "bench-runner",
        "dataset": {"file": data.name},
        "prompt": {"messages": [{"role": "user", "content": "{input}"}]},
        "settings": {"maxTokens": 32, "temperature": 0.0},
        "scorers": [{"name": "exact_match"}],
    }
    path = directory / "suite.yaml"
    path.write_text(json.dumps(suite), encoding="utf-8")  # JSON is YAML
    return path


def run_harness(suite_path: Path, url: str, concurrency: int, workdir: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, tasks done) of one ``run_suite``."""
    from evals.suite_loader import load_suite
    from runners.runner import RunOptions, run_suite_sync

    loaded = load_suite(suite_path)
    options = RunOptions(
        provider="runware",
        endpoint=url,
        api_key="bench",
        concurrency=concurrency,
        cache=False,
        progress="off",
        score=True,
    )
    run_dir = workdir / f"run-c{concurrency}-{uuid.uuid4().hex[:6]}"
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = run_suite_sync(loaded, run_dir=run_dir, options=options)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if summary.status != "completed":
        raise SystemExit(f"harness run did not complete: {summary.status} {summary.message}")
    return wall, cpu, summary.done


def requests_of(suite_path: Path) -> list[dict[str, Any]]:
    from evals.expand import iter_tasks
    from evals.suite_loader import load_suite

    return [t.request for t in iter_tasks(load_suite(suite_path))]


async def raw_loop(url: str, requests: list[dict[str, Any]], concurrency: int) -> tuple[float, int]:
    """The minimal client: post each task under a fresh UUID, ``concurrency`` at a time."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    ok = 0
    work = iter(requests)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def worker() -> None:
            nonlocal ok
            for request in work:
                body = [{**request, "taskUUID": str(uuid.uuid4())}]
                try:
                    response = await client.post(url, json=body)
                except httpx.TransportError:
                    continue  # counted as a failure below; the raw loop does not retry
                ok += response.status_code == 200 and bool(response.json().get("data"))

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        return time.perf_counter() - t0, ok


def backend_options() -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per measurement (default 2000)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    args = parser.parse_args(argv)

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        if not url:
            raise SystemExit("the sim server did not start")
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            suite_path = write_suite(workdir, args.tasks)
            requests = requests_of(suite_path)
            print(f"{args.tasks} tasks per measurement against the zero-latency sim at {url}")
            print(
                f"{'concurrency':>11} {'harness t/s':>12} {'raw t/s':>9} {'ratio':>6} {'harness CPU ms/task':>20}"
            )
            for c in args.concurrency:
                raw_wall, raw_ok = anyio.run(raw_loop, url, requests, c, backend_options=backend_options())
                if raw_ok != len(requests):
                    print(f"  (raw loop: {len(requests) - raw_ok} of {len(requests)} requests failed)")
                wall, cpu, done = run_harness(suite_path, url, c, workdir)
                harness_rate, raw_rate = done / wall, raw_ok / raw_wall
                print(
                    f"{c:>11} {harness_rate:>12.0f} {raw_rate:>9.0f} {harness_rate / raw_rate:>6.2f} "
                    f"{cpu / done * 1000:>20.3f}",
                    flush=True,
                )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
