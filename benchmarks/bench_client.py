"""Client CPU per request: one big httpx pool against several small ones, at rising concurrency.

Runs the Runware client against the embedded sim server in zero-latency mode and measures the CPU
time of the client's own thread (``time.thread_time()``; the server runs in another thread and is not
counted) per completed request, plus throughput. Usage::

    .venv/bin/python benchmarks/bench_client.py [--requests 3000] [--repeat 3] [--concurrency 1 64 256] [--uvloop]

The question it answers: does the harness's CPU per request stay flat from 1 to 256 requests in
flight? httpx's pool scans its connections on each request, so one client with 256 connections
costs more per request than 32 clients with 8 each (see ``runners/providers/http.py``).
"""

from __future__ import annotations

import argparse
import collections
import math
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import anyio

from evals.records import Sample, Task
from runners.providers.http import CONNECTIONS_PER_CLIENT
from runners.providers.runware import RunwareProvider

# The server runs in its own process so it neither shares the client's GIL nor its CPU accounting.
SERVER = """
import sys
from runners.server import ServerConfig, serve_in_background
config = ServerConfig(engine="sim", sim={"zero_latency": True}, queue_size=4096)
with serve_in_background(config) as handle:
    print(handle.url, flush=True)
    sys.stdin.read()
"""


@dataclass
class Result:
    layout: str
    concurrency: int
    requests: int
    errors: dict[str, int]
    cpu_us_per_request: float
    requests_per_s: float


def _task() -> Task:
    request = {
        "taskType": "textInference",
        "model": "alibaba:qwen@3.5-27b",
        "deliveryMethod": "sync",
        "numberResults": 1,
        "includeUsage": True,
        "includeCost": True,
        "seed": 7,
        "messages": [{"role": "user", "content": "Say hi"}],
        "settings": {"maxTokens": 8},
    }
    return Task("bench", "cell", "s", 0, 7, request, Sample(id="s", input="Say hi"))


async def _run(url: str, layout: str, concurrency: int, requests: int) -> Result:
    if layout == "1 big pool":
        clients, connections = 1, concurrency
    else:
        connections = CONNECTIONS_PER_CLIENT
        clients = max(1, math.ceil(concurrency / connections))
    task = _task()
    errors: collections.Counter[str] = collections.Counter()
    async with RunwareProvider(endpoint=url, clients=clients, connections_per_client=connections) as provider:
        # Warm-up: open the keep-alive connections before measuring.
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(provider.send, task, str(uuid.uuid4()), 1)
        remaining = requests
        limiter = anyio.Semaphore(concurrency)

        async def one() -> None:
            nonlocal errors
            try:
                attempt = await provider.send(task, str(uuid.uuid4()), 1)
                if attempt.error is not None:
                    errors[attempt.error.code] += 1
            finally:
                limiter.release()

        cpu0, wall0 = time.thread_time(), time.perf_counter()
        async with anyio.create_task_group() as group:
            while remaining:
                await limiter.acquire()
                remaining -= 1
                group.start_soon(one)
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return Result(layout, concurrency, requests, dict(errors), cpu / requests * 1e6, requests / wall)


async def _main(args: argparse.Namespace) -> list[Result]:
    results = []
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        for concurrency in args.concurrency:
            for layout in ("1 big pool", "small pools"):
                # The median of several runs: a shared machine's noise is larger than one run shows.
                runs = [await _run(url, layout, concurrency, args.requests) for _ in range(args.repeat)]
                r = sorted(runs, key=lambda x: x.cpu_us_per_request)[len(runs) // 2]
                results.append(r)
                print(
                    f"{r.layout:12} c={r.concurrency:<4} {r.cpu_us_per_request:8.0f} us CPU/request "
                    f"{r.requests_per_s:8.0f} req/s  errors={r.errors}",
                    flush=True,
                )
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the server exits when its stdin closes
        server.wait(30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per point; the median is shown")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop (if installed)")
    args = parser.parse_args()
    options = {"use_uvloop": True} if args.uvloop else {}
    anyio.run(_main, args, backend="asyncio", backend_options=options)


if __name__ == "__main__":
    main()
