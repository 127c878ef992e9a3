"""``evals serve`` in a real subprocess: prints its URL, answers, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx

from tests.runners.server.conftest import task


def test_serve_prints_the_url_answers_and_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-m", "evals", "serve", "--engine", "sim", "--port", "0"]
    with subprocess.Popen(
        [*command, "--sim", '{"zero_latency": true}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = next(json.loads(line)["url"] for line in proc.stdout if line.startswith("{"))
            assert url.startswith("http://127.0.0.1:")
            # The port listens before the URL is printed: no retry loop needed.
            r = httpx.post(url, json=[task()], timeout=30, trust_env=False)
            assert r.status_code == 200 and r.json()["data"][0]["text"]
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=20)
            assert proc.returncode == 0 and "server stopped" in out
        finally:
            if proc.poll() is None:
                proc.kill()


def test_serve_refuses_bad_sim_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evals", "serve", "--engine", "sim", "--port", "0", "--sim", '{"nope": 1}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "unknown option" in done.stderr
