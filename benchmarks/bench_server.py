"""Throughput of the local server's smollm2 engine against direct llama-cpp-python calls.

    .venv/bin/python benchmarks/bench_server.py [--rounds 3] [--max-tokens 64] [--delivery sync|stream]

Both sides run the same prompts with the same seeds and settings, interleaved prompt by prompt
(direct, server, direct, server, ...) so a change in machine load hits both alike. The result is
completion tokens per second of each side and their ratio; the server should keep at least 90%.
The generated texts must match too: the server adds transport, not different sampling.
Exit code 0 when the ratio reaches ``--min-ratio``, 1 when it does not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from runners.server import ServerConfig, serve_in_background
from runners.server.engines.base import GenerationRequest
from runners.server.engines.smollm2 import chat_messages, model_path, sampling_kwargs

PROMPTS = [
    "Write one sentence about the sea.",
    "List three uses of a paperclip.",
    "Explain what a prime number is.",
    "Describe a sunrise in a few words.",
    "Give a short tip for learning to cook.",
    "What is the capital of France? Answer briefly.",
]
MODEL = "alibaba:qwen@3.5-27b"


def settings(max_tokens: int) -> dict[str, Any]:
    return {"maxTokens": max_tokens, "temperature": 0.7, "topP": 0.95, "topK": 20}


def direct(llm: Any, prompt: str, seed: int, max_tokens: int) -> tuple[str, int, float]:
    """One call straight into llama-cpp-python: (text, completion tokens, seconds)."""
    request = GenerationRequest(({"role": "user", "content": prompt},), None, settings(max_tokens), seed)
    start = time.perf_counter()
    llm.reset()
    out = llm.create_chat_completion(messages=chat_messages(request), **sampling_kwargs(request))
    elapsed = time.perf_counter() - start
    return out["choices"][0]["message"]["content"], out["usage"]["completion_tokens"], elapsed


def through_server(
    client: httpx.Client, url: str, prompt: str, seed: int, max_tokens: int, delivery: str
) -> tuple[str, int, float]:
    """The same call through the server over loopback HTTP: (text, completion tokens, seconds)."""
    task = {
        "taskType": "textInference",
        "taskUUID": str(uuid.uuid4()),
        "model": MODEL,
        "deliveryMethod": delivery,
        "includeUsage": True,
        "seed": seed,
        "messages": [{"role": "user", "content": prompt}],
        "settings": settings(max_tokens),
    }
    start = time.perf_counter()
    if delivery == "stream":
        text, tokens = "", 0
        with client.stream("POST", url, json=[task]) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    event = json.loads(line[6:])
                    text += event["delta"].get("text", "")
                    tokens = event.get("usage", {}).get("completionTokens", tokens)
    else:
        item = client.post(url, json=[task]).json()["data"][0]
        text, tokens = item["text"], item["usage"]["completionTokens"]
    return text, tokens, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes over the prompts (default 3)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--delivery", choices=["sync", "stream"], default="sync")
    parser.add_argument("--threads", type=int, default=ServerConfig().n_threads, help="llama.cpp threads")
    parser.add_argument("--min-ratio", type=float, default=0.9)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(model_path()),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_ctx=2048,
        verbose=False,
    )
    totals = {"direct": [0, 0.0], "server": [0, 0.0]}
    mismatches = 0
    config = ServerConfig(engine="smollm2", n_threads=args.threads)
    with serve_in_background(config) as server, httpx.Client(timeout=600, trust_env=False) as client:
        # Warm both sides once (first calls pay for allocations) before measuring.
        direct(llm, PROMPTS[0], 0, 8)
        through_server(client, server.url, PROMPTS[0], 0, 8, args.delivery)
        for round_ in range(args.rounds):
            for i, prompt in enumerate(PROMPTS):
                seed = 1000 * round_ + i
                d_text, d_tokens, d_time = direct(llm, prompt, seed, args.max_tokens)
                s_text, s_tokens, s_time = through_server(
                    client, server.url, prompt, seed, args.max_tokens, args.delivery
                )
                totals["direct"][0] += d_tokens
                totals["direct"][1] += d_time
                totals["server"][0] += s_tokens
                totals["server"][1] += s_time
                mismatches += d_text != s_text
    llm.close()

    rate = {side: tokens / seconds for side, (tokens, seconds) in totals.items()}
    ratio = rate["server"] / rate["direct"]
    result = {
        "delivery": args.delivery,
        "threads": args.threads,
        "calls_per_side": args.rounds * len(PROMPTS),
        "direct_tokens_per_s": round(rate["direct"], 2),
        "server_tokens_per_s": round(rate["server"], 2),
        "ratio": round(ratio, 4),
        "text_mismatches": mismatches,
        "passed": ratio >= args.min_ratio and mismatches == 0,
    }
    if args.json:
        print(json.dumps(result))
    else:
        table = Table(title=f"smollm2 through the server ({args.delivery}) vs direct llama-cpp-python")
        table.add_column("side")
        table.add_column("completion tokens", justify="right")
        table.add_column("seconds", justify="right")
        table.add_column("tokens/s", justify="right")
        for side, (tokens, seconds) in totals.items():
            table.add_row(side, str(tokens), f"{seconds:.2f}", f"{rate[side]:.1f}")
        console = Console()
        console.print(table)
        console.print(
            f"ratio server/direct = {ratio:.3f} (need >= {args.min_ratio}); text mismatches: {mismatches}"
        )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
