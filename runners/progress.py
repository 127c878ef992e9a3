"""Progress while a run goes: a live display on a terminal, a plain line every few seconds in CI logs.

Shows done/total, rate, ETA, USD spent, errors by class, retries and the current concurrency. The
counters are plain attributes that the runner's tasks bump (all on one event loop, so no locks);
``run`` redraws from them until it is cancelled, then prints a last line.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal, TextIO

import anyio

if TYPE_CHECKING:
    from evals.store import TaskOutcome
    from runners.concurrency import AdaptiveLimiter

Mode = Literal["auto", "live", "plain", "off"]


class Progress:
    """Counters of a run and their display."""

    def __init__(
        self,
        *,
        total: int,
        already_done: int = 0,
        mode: Mode = "auto",
        title: str = "",
        stream: TextIO | None = None,
        plain_interval: float = 5.0,
        live_interval: float = 0.25,
    ) -> None:
        self.total = total
        self.already_done = already_done
        self.title = title
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if self.stream.isatty() else "plain"
        self.mode: Mode = mode
        self.plain_interval = plain_interval
        self.live_interval = live_interval
        self.done = 0
        self.errored = 0
        self.cache_hits = 0
        self.requests = 0
        self.retries = 0
        self.spent = 0.0
        self.errors: Counter[str] = Counter()
        self.limiter: AdaptiveLimiter | None = None
        self.started = time.monotonic()
        self._notes: list[str] = []

    # -- counters ----------------------------------------------------------------------------------

    def record_finish(self, outcome: TaskOutcome, *, warmup: bool = False) -> None:
        """Count one finished task (warm-up tasks are not part of done/total)."""
        if warmup:
            return
        if outcome.status == "done":
            self.done += 1
            if outcome.cache_hit:
                self.cache_hits += 1
        elif outcome.status == "errored":
            self.errored += 1

    def note(self, message: str) -> None:
        """Show a message now (interrupts, warnings) in either mode."""
        self._notes.append(message)
        if self.mode != "off":
            print(message, file=self.stream, flush=True)

    # -- rendering ---------------------------------------------------------------------------------

    def line(self) -> str:
        """The one-line status: done/total, rate, ETA, spent, errors, retries, concurrency."""
        finished = self.done + self.errored
        elapsed = max(1e-9, time.monotonic() - self.started)
        rate = finished / elapsed
        remaining = self.total - self.already_done - finished
        eta = f"{remaining / rate:.0f}s" if rate > 0 and remaining > 0 else "-"
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        parts = [
            f"{self.already_done + self.done}/{self.total} done",
            f"{self.errored} errored",
            f"{rate:.1f} tasks/s",
            f"ETA {eta}",
            f"${self.spent:.4f} spent",
            f"errors: {errors}",
            f"retries {self.retries}",
        ]
        if self.cache_hits:
            parts.insert(2, f"{self.cache_hits} cached")
        if self.limiter is not None:
            parts.append(f"concurrency {self.limiter.in_flight}/{self.limiter.limit}")
        return " | ".join(parts)

    async def run(self) -> None:
        """Redraw until cancelled."""
        if self.mode == "off":
            await anyio.sleep_forever()
        elif self.mode == "plain":
            try:
                while True:
                    await anyio.sleep(self.plain_interval)
                    print(self.line(), file=self.stream, flush=True)
            finally:
                print(self.line(), file=self.stream, flush=True)
        else:
            await self._run_live()

    async def _run_live(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        console = Console(file=self.stream)

        def render() -> Any:
            return Text.assemble((self.title + "\n", "bold"), self._bar(), " ", self.line())

        with Live(render(), console=console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    await anyio.sleep(self.live_interval)
                    live.update(render(), refresh=True)
            finally:
                live.update(render(), refresh=True)

    def _bar(self, width: int = 30) -> str:
        fraction = (self.already_done + self.done + self.errored) / self.total if self.total else 1.0
        filled = int(round(width * min(1.0, fraction)))
        return "[" + "#" * filled + "." * (width - filled) + "]"
