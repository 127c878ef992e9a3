"""Progress output: a plain line every few seconds without a terminal, a live display with one."""

from __future__ import annotations

import io

import anyio
import pytest

from evals.store import TaskOutcome
from runners.concurrency import AdaptiveLimiter
from runners.progress import Progress

pytestmark = pytest.mark.anyio


def fed(progress: Progress) -> Progress:
    progress.limiter = AdaptiveLimiter(8)
    for i in range(3):
        progress.record_finish(TaskOutcome(f"t{i}", "done", 1, cache_hit=i == 0))
    progress.record_finish(TaskOutcome("t3", "errored", 2))
    progress.record_finish(TaskOutcome("w", "done", 1), warmup=True)
    progress.errors["throttled"] += 2
    progress.retries = 2
    progress.spent = 0.0123
    return progress


def test_the_status_line_has_what_an_operator_needs() -> None:
    line = fed(Progress(total=10, already_done=2, mode="off")).line()
    for part in [
        "5/10 done",
        "1 errored",
        "1 cached",
        "tasks/s",
        "ETA",
        "$0.0123 spent",
        "throttled 2",
        "retries 2",
        "concurrency 0/8",
    ]:
        assert part in line, (part, line)


async def test_plain_mode_prints_lines_periodically_and_at_the_end() -> None:
    out = io.StringIO()
    progress = fed(Progress(total=4, mode="auto", stream=out, plain_interval=0.05))
    assert progress.mode == "plain"  # a StringIO is not a terminal
    with anyio.move_on_after(0.18):
        await progress.run()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all("done" in line for line in lines)


async def test_live_mode_renders_to_its_stream() -> None:
    out = io.StringIO()
    progress = fed(Progress(total=4, mode="live", stream=out, live_interval=0.02, title="demo"))
    with anyio.move_on_after(0.1):
        await progress.run()
    text = out.getvalue()
    assert "demo" in text and "3/4 done" in text
