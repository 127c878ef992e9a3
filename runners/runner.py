"""The run loop: expand a suite, send its tasks, store every attempt and result, score, summarise.

Structure (anyio, nothing fire-and-forget, every task owned by a task group)::

    run_suite
    ├── signals             1st Ctrl-C/SIGTERM: stop dispatching, grace period, save;
    │                       2nd: cancel tasks in flight at once (they stay pending)
    └── Executor.execute
        └── task group "aux"
            ├── progress    live display on a terminal, a plain line every few seconds otherwise
            ├── grace timer (after a first Ctrl-C)
            └── task group "storing"
                ├── writer  the only task that writes the run database: receives messages from a
                │           memory object stream and commits them in batches (count or ~200 ms)
                └── task group "workers" (one per phase: warm-up, then the run)
                    ├── dispatcher   closed loop (admission limit) or open loop (absolute schedule);
                    │                checks the cache, the budget and the stop flag first
                    └── one worker per admitted task: each attempt takes a slot of the adaptive
                        limiter; classify, back off, retry, fetch on conflict; every attempt and
                        the final outcome go to the writer

A task is finished in the database only when its final row and results are committed together, so a
crash at any moment leaves each task either done (with all results) or pending; resume sends only
the pending (and errored, non-permanent) ones. Task UUIDs are derived from the run id and the task
id, so a resumed task reuses its UUID and a server that already ran it answers ``conflictTaskUUID``:
the runner then fetches the result instead of paying for it twice. If the server keeps that UUID as
a failed task, the task moves to a new UUID (``rotated_uuid``), stored so a resume uses it too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import signal
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from evals.errors import BudgetReached, ConfigError, ExitCode, ResumeMismatch
from evals.grid import axes_sort_key
from evals.records import ApiError, Attempt, Cell, ErrorClass, Task
from evals.store import Manifest, RunStore, SessionInfo, TaskOutcome, TaskState, utc_now
from evals.suite import Suite, Target
from runners.budget import Budget, request_worst_case, worst_case_cost
from runners.cache import ResponseCache, cache_key, default_cache_path
from runners.concurrency import AdaptiveLimiter
from runners.progress import Progress
from runners.provider import Provider
from runners.retry import RetryPolicy
from runners.run_dir import db_path, git_commit, harness_version, host_description
from runners.schedule import LagMonitor, arrival_offsets

if TYPE_CHECKING:
    from evals.suite_loader import LoadedSuite

ProviderFactory = Callable[[Target], AbstractAsyncContextManager[Provider]]
ProgressMode = Literal["auto", "live", "plain", "off"]

# Statuses of a stopped run, and the exit code each one ends with.
_EXIT_CODES = {
    "completed": ExitCode.OK,
    "interrupted": ExitCode.INTERRUPTED,
    "failed": ExitCode.RUN_FAILED,
    "budget": ExitCode.BUDGET,
}


@dataclass
class RunOptions:
    """How to run a suite: target overrides from the command line, limits, cache and resume."""

    provider: str | None = None  # overrides target.provider
    endpoint: str | None = None  # overrides target.endpoint
    model: str | None = None  # overrides target.model
    concurrency: int | None = None  # overrides target.concurrency (the adaptive maximum)
    max_cost: float | None = None  # USD over the run's whole life (all sessions)
    max_tasks: int | None = None  # tasks sent to the API (cache hits are free and not counted)
    limit: int | None = None  # samples taken from the dataset
    # None: not given. A resume then takes the run's stored value, a new run the default (on, no
    # refresh); so a resume of a --no-cache run keeps the cache off unless told otherwise.
    cache: bool | None = None
    refresh_cache: bool | None = None  # ignore cached answers but store the new ones
    cache_path: Path | None = None  # default: runners.cache.default_cache_path()
    resume: bool = False
    # A resume refuses a different provider, endpoint or model (its results would mix two targets)
    # unless this is set.
    allow_provider_change: bool = False
    grace_period: float = 30.0  # seconds in-flight tasks get after the first Ctrl-C
    api_key: str | None = None
    progress: ProgressMode = "auto"
    handle_signals: bool = False  # the CLI turns this on; library callers keep their own handlers
    score: bool = True  # score the run when it ends (evals.scoring.score_run)
    cli_args: dict[str, Any] | None = None  # stored in the manifest
    batch_size: int = 200  # rows per commit at most
    flush_interval: float = 0.2  # seconds between commits at most
    provider_factory: ProviderFactory | None = None  # default: runners.providers.open_provider

    def overrides(self) -> dict[str, Any]:
        """The target fields these options override (stored so a resume reapplies them)."""
        given = {
            "provider": self.provider,
            "endpoint": self.endpoint,
            "model": self.model,
            "concurrency": self.concurrency,
        }
        return {k: v for k, v in given.items() if v is not None}

    def limits(self) -> dict[str, Any]:
        """The budget and cache options given (not None), stored so a resume reapplies them."""
        given = {
            "max_cost": self.max_cost,
            "max_tasks": self.max_tasks,
            "cache": self.cache,
            "refresh_cache": self.refresh_cache,
            # Absolute: a resume may run from another directory.
            "cache_path": None if self.cache_path is None else str(self.cache_path.expanduser().absolute()),
        }
        return {k: v for k, v in given.items() if v is not None}

    def with_stored(self, stored: dict[str, Any]) -> RunOptions:
        """These options, with the stored budget and cache options filling what was not given."""
        merged = {**stored, **self.limits()}
        path = merged.get("cache_path")
        return dataclasses.replace(
            self,
            max_cost=merged.get("max_cost"),
            max_tasks=merged.get("max_tasks"),
            cache=merged.get("cache"),
            refresh_cache=merged.get("refresh_cache"),
            cache_path=None if path is None else Path(path),
        )


@dataclass
class RunSummary:
    """What a run did, for the CLI's summary and exit code."""

    run_id: str
    run_dir: Path
    db_path: Path
    status: str  # completed | interrupted | failed | budget
    exit_code: int
    total: int  # tasks of the run (warm-up excluded)
    done: int
    errored: int
    pending: int
    sent: int  # tasks dispatched in this session (cache hits excluded)
    cache_hits: int
    requests: int  # attempts this session made
    retries: int
    cost: float | None  # USD of every answer, as produced (cache hits at their original cost)
    cost_spent: float  # USD this session was told it spent (see cost_unknown_tasks)
    duration_s: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    errors_by_class: dict[str, int]
    scores: list[dict[str, Any]] = field(default_factory=list)  # per cell and scorer: mean, n
    message: str | None = None  # why the run stopped early
    warnings: list[str] = field(default_factory=list)
    concurrency_cuts: int = 0
    final_concurrency: int | None = None
    # Tasks of this session whose request may have been paid but whose cost was never reported (no
    # answer: reset, timeout, deadline; or an answer without a price): cost_spent is a lower bound.
    cost_unknown_tasks: int = 0
    cost_unknown_worst: float | None = None  # their worst case (USD), when every one has a price

    @property
    def resume_command(self) -> str:
        return f"evals resume {self.run_dir}"


# ---------------------------------------------------------------------------------------------------
# identities


def task_uuid_for(run_id: str, task_id: str) -> str:
    """A UUID v4-shaped id that is a pure function of (run, task): stable across retries and resumes."""
    digest = hashlib.sha256(f"{run_id}\x00{task_id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def rotated_uuid(failed: str) -> str:
    """The UUID a task moves to when the server keeps ``failed`` as a failed task for good.

    Never used before (as random as a fresh uuid4 to the server), but derived from the failed one
    rather than drawn: if the process dies after sending under it and before the database records
    it, the resume polls ``failed`` again, rotates to the same UUID, and gets ``conflictTaskUUID``
    and the result instead of paying for a second generation.
    """
    digest = hashlib.sha256(f"rotate\x00{failed}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def endpoint_identity(target: Target) -> str:
    """Where requests go, as the cache (and a resume's check) sees it.

    A remote provider's identity is the URL its client actually posts to, normalised, so an omitted
    endpoint and Runware's default spelled out are the same place (and share cache entries). The
    embedded server (provider local or sim) listens on a fresh port each run and ignores
    ``target.endpoint``, so its identity is the engine and its options, not a URL.
    """
    if target.provider in ("local", "sim"):
        engine = target.engine or ("sim" if target.provider == "sim" else "smollm2")
        if engine == "sim":
            return f"embedded:sim:{json.dumps(target.sim, sort_keys=True, default=str)}"
        return f"embedded:{engine}"
    url = target.endpoint
    if not url and target.provider == "runware":
        from runners.providers.runware import DEFAULT_ENDPOINT

        url = DEFAULT_ENDPOINT
    return _normalise_url(url or "")


def _normalise_url(url: str) -> str:
    """``url`` with scheme and host lower-cased, default port and trailing slashes dropped."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return url.strip().rstrip("/")
    host = (parts.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    # Rebuilt from host and port only: user:password@ in a URL is a secret, never an identity.
    netloc = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def apply_overrides(suite: Suite, overrides: dict[str, Any]) -> Suite:
    """``suite`` with target fields replaced (re-validated, so a bad override is a usage error)."""
    if not overrides:
        return suite
    data = suite.target.model_dump(by_alias=True)
    data.update(overrides)
    try:
        target = Target.model_validate(data, strict=False)
    except Exception as exc:  # pydantic.ValidationError: report it as a usage error
        raise ConfigError(f"invalid target override {overrides}: {exc}") from exc
    return suite.model_copy(update={"target": target})


# ---------------------------------------------------------------------------------------------------
# messages to the writer


@dataclass
class _AttemptMsg:
    attempt: Attempt
    concurrency_limit: int | None


@dataclass
class _FinishMsg:
    outcome: TaskOutcome
    cache_attempt: Attempt | None = None  # a fresh answer to store in the response cache
    cache_key: str | None = None
    warmup: bool = False


@dataclass
class _UuidMsg:
    task_id: str
    task_uuid: str  # the task's new UUID after a rotation (what a resume must use)


_Msg = _AttemptMsg | _FinishMsg | _UuidMsg


@dataclass
class _Paid:
    """What one task's requests cost, as far as anyone told us."""

    known: float | None = None  # sum of the reported costs
    unreported: bool = False  # a request may have been paid, but no cost came back
    in_flight: bool = False  # a request is out right now (cancelled here: it may be paid)

    @property
    def unknown(self) -> bool:
        return self.known is None and (self.unreported or self.in_flight)


@dataclass
class _Stop:
    reason: str | None = None  # interrupted | fatal | budget | errors
    message: str | None = None
    interrupts: int = 0


# ---------------------------------------------------------------------------------------------------
# the executor: dispatch, workers, writer


class Executor:
    """Sends a list of tasks through one provider and stores everything in one run store."""

    def __init__(
        self,
        *,
        store: RunStore,
        provider: Provider,
        target: Target,
        run_id: str,
        origin: float,
        cache: ResponseCache | None,
        endpoint_id: str,
        budget: Budget,
        progress: Progress,
        grace_period: float = 30.0,
        max_errors: int | None = None,
        rng_seed: int = 0,
        task_uuids: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.task_uuids = task_uuids or {}  # stored UUIDs (a rotated one differs from task_uuid_for)
        self.provider = provider
        self.target = target
        self.run_id = run_id
        self.origin = origin
        self.cache = cache
        self.endpoint_id = endpoint_id
        self.budget = budget
        self.progress = progress
        self.grace_period = grace_period
        self._aux: TaskGroup | None = None
        self.interrupts = 0
        self.max_errors = max_errors
        self.policy = RetryPolicy.from_suite(target.retries, target.timeouts.task)
        self.limiter = AdaptiveLimiter(target.concurrency, adaptive=target.adaptive)
        # Tasks admitted at once (in flight, backing off or waiting for a slot). Each *attempt* also
        # takes a slot of the adaptive limiter, so tasks waiting out a backoff do not hold capacity
        # and a lowered limit takes effect on the next attempt rather than when the admitted tasks
        # finally finish. Admission stays at the maximum: an admitted task waiting for a slot has
        # not started its deadline (see _attempts), so the wait costs it nothing.
        self.admission = anyio.CapacityLimiter(target.concurrency)
        self.progress.limiter = self.limiter
        self.rng = random.Random(rng_seed)
        self.stop = _Stop()
        self.lag: LagMonitor | None = LagMonitor(target.rate) if target.rate else None
        self.sent = 0
        self.requests = 0
        self.retries = 0
        self.errored = 0
        self.spent = 0.0
        self.errors_by_class: Counter[str] = Counter()
        self._dispatch_scope: anyio.CancelScope | None = None
        self._workers_scope: anyio.CancelScope | None = None
        self._history_written = 0

    # -- control -----------------------------------------------------------------------------------

    def request_stop(self, reason: str, message: str | None = None) -> None:
        """Stop dispatching new tasks; tasks in flight finish. The first reason given is kept."""
        if self.stop.reason is None:
            self.stop.reason = reason
            self.stop.message = message
        if self._dispatch_scope is not None:
            self._dispatch_scope.cancel()

    def cancel_in_flight(self) -> None:
        """Cancel the tasks in flight (they stay pending and resume sends them again)."""
        if self._dispatch_scope is not None:
            self._dispatch_scope.cancel()
        if self._workers_scope is not None:
            self._workers_scope.cancel()

    # -- the whole execution -----------------------------------------------------------------------

    async def execute(self, tasks: list[Task], warmups: list[Task], prior_attempts: dict[str, int]) -> None:
        """Send ``warmups`` (and wait for them), then ``tasks``; returns when all are stored."""
        send, receive = anyio.create_memory_object_stream[_Msg](max_buffer_size=4096)
        async with anyio.create_task_group() as aux:
            # aux: the progress display and the grace-period timer, stopped once all is stored.
            self._aux = aux
            aux.start_soon(self.progress.run)
            async with anyio.create_task_group() as storing:
                storing.start_soon(self._writer, receive)
                async with send:  # closing it lets the writer drain, commit and return
                    if warmups:
                        await self._run_phase(warmups, prior_attempts, send, warmup=True)
                    if self.stop.reason is None:
                        await self._run_phase(tasks, prior_attempts, send, warmup=False)
            self._aux = None
            aux.cancel_scope.cancel()

    async def _run_phase(
        self,
        tasks: list[Task],
        prior_attempts: dict[str, int],
        send: MemoryObjectSendStream[_Msg],
        *,
        warmup: bool,
    ) -> None:
        async with anyio.create_task_group() as workers:
            self._workers_scope = workers.cancel_scope
            with anyio.CancelScope() as dispatch_scope:
                self._dispatch_scope = dispatch_scope
                if self.stop.reason is not None:
                    dispatch_scope.cancel()
                await self._dispatch(tasks, prior_attempts, send, workers, warmup=warmup)
        self._dispatch_scope = None
        self._workers_scope = None

    async def _dispatch(
        self,
        tasks: list[Task],
        prior_attempts: dict[str, int],
        send: MemoryObjectSendStream[_Msg],
        workers: TaskGroup,
        *,
        warmup: bool,
    ) -> None:
        schedule = None
        t0 = 0.0
        if self.target.rate and not warmup:
            schedule = arrival_offsets(self.target.rate, self.target.arrival, seed=self.rng.getrandbits(32))
            t0 = anyio.current_time()
        for task in tasks:
            if self.stop.reason is not None:
                return
            key = None
            if self.cache is not None and not warmup:
                key = cache_key(self.target.provider, self.endpoint_id, task.request)
                hit = self.cache.get(key)
                if hit is not None:
                    await send.send(_FinishMsg(self._cache_outcome(task, hit, prior_attempts)))
                    continue
            # A task an earlier session already sent was counted under --max-tasks then.
            counts = not warmup and prior_attempts.get(task.id, 0) == 0
            reason = self.budget.admit(task.id, worst_case_cost(task), counts=counts)
            if reason is not None:
                self.request_stop("budget", reason)
                return
            scheduled_at = None
            if schedule is not None:
                due = t0 + next(schedule)
                await anyio.sleep_until(due)
                scheduled_at = time.perf_counter() - (anyio.current_time() - due) - self.origin
            slot = object()  # a unique borrower: Task itself is unhashable (it holds dicts)
            await self.admission.acquire_on_behalf_of(slot)
            dispatched_at = time.perf_counter() - self.origin
            if scheduled_at is not None and self.lag is not None:
                self.lag.observe(dispatched_at - scheduled_at)
            if not warmup:
                self.sent += 1
            workers.start_soon(
                self._worker,
                task,
                slot,
                prior_attempts.get(task.id, 0),
                key,
                send,
                warmup,
                scheduled_at,
                dispatched_at,
            )

    def _cache_outcome(self, task: Task, hit: Any, prior_attempts: dict[str, int]) -> TaskOutcome:
        return TaskOutcome(
            task_id=task.id,
            status="done",
            attempts=prior_attempts.get(task.id, 0),
            generations=hit.generations,
            usage=hit.usage,
            cost=hit.cost,
            cost_spent=0.0,
            cost_source=hit.cost_source,
            cache_hit=True,
        )

    async def _worker(
        self,
        task: Task,
        slot: object,
        prior: int,
        key: str | None,
        send: MemoryObjectSendStream[_Msg],
        warmup: bool,
        scheduled_at: float | None,
        dispatched_at: float,
    ) -> None:
        task_uuid = self.task_uuids.get(task.id) or task_uuid_for(self.run_id, task.id)
        paid = _Paid()
        try:
            outcome, fresh = await self._attempts(task, task_uuid, prior, send, paid)
            outcome.scheduled_at = scheduled_at
            outcome.dispatched_at = dispatched_at
            if outcome.status == "errored" and not warmup:
                self.errored += 1
                if self.max_errors is not None and self.errored > self.max_errors:
                    self.request_stop(
                        "errors",
                        f"{self.errored} tasks errored, more than target.max_error_rate allows; stopping",
                    )
            write_cache = fresh is not None and key is not None and self.cache is not None
            await send.send(
                _FinishMsg(outcome, fresh if write_cache else None, key if write_cache else None, warmup)
            )
        finally:
            self.admission.release_on_behalf_of(slot)
            # A request that may have been paid without a reported cost keeps its worst case counted.
            self.budget.settle(task.id, paid.known, unknown=paid.unknown)
            if paid.known:
                self.spent += paid.known
                self.progress.spent += paid.known

    async def _attempts(
        self, task: Task, task_uuid: str, prior: int, send: MemoryObjectSendStream[_Msg], paid: _Paid
    ) -> tuple[TaskOutcome, Attempt | None]:
        """Attempt ``task`` until it succeeds, fails for good, or runs out of attempts or time.

        The task's deadline starts with its first request and pauses while the task waits for a
        slot of the adaptive limit: waiting for capacity is the runner's queue, not the task taking
        too long, and a task that never got a slot never sent anything to fail.
        """
        deadline: float | None = None
        number = prior
        made = 0
        fetch = False
        last: Attempt | None = None
        while True:
            token = object()
            waiting_since = anyio.current_time()
            await self.limiter.acquire(token)
            try:
                now = anyio.current_time()
                deadline = (
                    now + self.policy.deadline if deadline is None else deadline + (now - waiting_since)
                )
                remaining = deadline - now
                if remaining <= 0 and last is not None:
                    # Overslept the backoff past the deadline: nothing is sent, nothing recorded.
                    return self._outcome(task, task_uuid, number, last, paid.known), None
                number += 1
                made += 1
                limit_now = self.limiter.limit
                sent_at = time.perf_counter()
                call = self.provider.fetch if fetch else self.provider.send
                attempt: Attempt | None = None
                paid.in_flight = True
                with anyio.move_on_after(remaining):
                    attempt = await call(task, task_uuid, number)
            finally:
                self.limiter.release(token)
            paid.in_flight = False
            if attempt is None:
                # The request went out and the deadline passed before its answer: a real attempt
                # with no HTTP status, which may have been paid.
                attempt = Attempt(
                    task_id=task.id,
                    task_uuid=task_uuid,
                    number=number,
                    error=ApiError(
                        ErrorClass.TRANSIENT,
                        "taskDeadline",
                        f"no answer within the task deadline of {self.policy.deadline:g} s",
                    ),
                )
                attempt.timing.sent = sent_at
                attempt.timing.done = time.perf_counter()
            last = attempt
            self.requests += 1
            self.progress.requests += 1
            await send.send(_AttemptMsg(attempt, limit_now))
            if attempt.cost is not None:
                paid.known = (paid.known or 0.0) + attempt.cost
            elif (attempt.error is None or attempt.http_status is None) and not attempt.notes.get(
                "rotate_uuid"
            ):
                # Answered without a price, or no answer at all (reset, timeout, deadline): the
                # server may have generated, and billed, the answer. (A rotation answer is the
                # server saying the task failed: nothing generated.)
                paid.unreported = True
            error = attempt.error
            if error is None:
                self.limiter.on_success()
                return self._outcome(task, task_uuid, number, attempt, paid.known), attempt
            self.errors_by_class[error.error_class.value] += 1
            self.progress.errors[error.error_class.value] += 1
            if error.error_class is ErrorClass.THROTTLED:
                self.limiter.on_throttled(sent_at)
            if error.error_class is ErrorClass.FATAL:
                self.request_stop(
                    "fatal", f"fatal API error {error.code} (HTTP {error.http_status}): {error.message}"
                )
                return self._outcome(task, task_uuid, number, attempt, paid.known), None
            if error.error_class is ErrorClass.CONFLICT:
                fetch = True  # the server has this task already: ask for its result, never resend
            if attempt.notes.get("rotate_uuid"):
                # The server keeps this UUID as a failed task: every poll of it would fail again.
                # Move to a new UUID and send afresh; record it now so a resume uses it too.
                task_uuid = rotated_uuid(task_uuid)
                fetch = False
                await send.send(_UuidMsg(task.id, task_uuid))
            if not self.policy.should_retry(error, made):
                return self._outcome(task, task_uuid, number, attempt, paid.known), None
            delay = self.policy.backoff(made, self.rng, error.retry_after)
            if error.error_class is ErrorClass.CONFLICT:
                delay = 0.0
            if anyio.current_time() + delay >= deadline:
                return self._outcome(task, task_uuid, number, attempt, paid.known), None
            self.retries += 1
            self.progress.retries += 1
            await anyio.sleep(delay)

    @staticmethod
    def _outcome(
        task: Task, task_uuid: str, number: int, attempt: Attempt, spent: float | None
    ) -> TaskOutcome:
        if attempt.ok:
            cost_source = next((g.cost_source for g in attempt.generations if g.cost_source), None)
            return TaskOutcome(
                task_id=task.id,
                status="done",
                attempts=number,
                task_uuid=task_uuid,
                generations=attempt.generations,
                usage=attempt.usage,
                cost=attempt.cost,
                cost_spent=spent,
                cost_source=cost_source,
            )
        return TaskOutcome(
            task_id=task.id,
            status="errored",
            attempts=number,
            task_uuid=task_uuid,
            error=attempt.error,
            cost_spent=spent,
        )

    # -- the writer ----------------------------------------------------------------------------------

    async def _writer(self, receive: MemoryObjectReceiveStream[_Msg]) -> None:
        """The single owner of the run database: buffer, then commit by count or by time."""
        store = self.store
        try:
            async with receive:
                while True:
                    msg: _Msg | None = None
                    with anyio.move_on_after(store.seconds_until_due()):
                        try:
                            msg = await receive.receive()
                        except anyio.EndOfStream:
                            break
                    if isinstance(msg, _AttemptMsg):
                        store.add_attempt(
                            msg.attempt, origin=self.origin, concurrency_limit=msg.concurrency_limit
                        )
                    elif isinstance(msg, _UuidMsg):
                        store.set_task_uuid(msg.task_id, msg.task_uuid)
                    elif isinstance(msg, _FinishMsg):
                        store.finish_task(msg.outcome)
                        self.progress.record_finish(msg.outcome, warmup=msg.warmup)
                        if msg.cache_attempt is not None and msg.cache_key and self.cache is not None:
                            self.cache.put(
                                msg.cache_key,
                                self.target.provider,
                                self.endpoint_id,
                                self.target.model,
                                msg.cache_attempt,
                            )
                    if store.flush_due():
                        # Commit the run database (and its fsync) in a worker thread so sends and
                        # receives go on; only the writer uses that connection, and it waits here.
                        self._stage_history()
                        await anyio.to_thread.run_sync(self.store.flush)
                        if self.cache is not None:
                            # Only after the run database: a crash between the two commits then
                            # loses a cache entry (a re-send later), never the run's record of a
                            # paid answer while the cache holds it (a resume would take it as a
                            # free hit). The cache connection is also read by the dispatcher:
                            # keep it on the loop (its commits do not fsync, so they are cheap).
                            self.cache.flush()
        finally:
            # Shielded: a cancelled run still commits what it has (the database stays consistent
            # either way; this only saves the last batch).
            with anyio.CancelScope(shield=True):
                self._flush()

    def _stage_history(self) -> None:
        """Move new points of the limit's history into the store's buffer (on the event loop)."""
        new = self.limiter.history[self._history_written :]
        self._history_written += len(new)
        for change in new:
            self.store.add_concurrency(change.t - self.origin, change.limit, change.in_flight, change.reason)

    def _flush(self) -> None:
        self._stage_history()
        self.store.flush()  # the run database first, then the cache (see _writer)
        if self.cache is not None:
            self.cache.flush()

    # -- signals -----------------------------------------------------------------------------------

    def interrupt(self) -> bool:
        """Handle a Ctrl-C (or SIGTERM); False when the executor is not running and cannot.

        The first stops dispatching and gives tasks in flight the grace period, the second cancels
        them at once. Either way the writer commits what it has, so the run can be resumed.
        """
        if self._aux is None:
            return False
        self.interrupts += 1
        self.request_stop("interrupted", "interrupted")
        if self.interrupts == 1:
            self.progress.note(
                f"interrupted: waiting up to {self.grace_period:g} s for tasks in flight "
                "(Ctrl-C again to stop at once)"
            )
            self._aux.start_soon(self._grace_then_cancel)
        else:
            self.cancel_in_flight()
        return True

    async def _grace_then_cancel(self) -> None:
        await anyio.sleep(self.grace_period)
        self.cancel_in_flight()


# ---------------------------------------------------------------------------------------------------
# run_suite: prepare, execute, finish


def _expand(loaded: LoadedSuite, limit: int | None) -> tuple[list[Cell], list[Task], str]:
    from evals.expand import iter_cells, iter_tasks, suite_hash

    tasks = list(iter_tasks(loaded, limit_samples=limit))
    used = {t.cell_id for t in tasks}
    cells = [c for c in iter_cells(loaded) if c.id in used]
    return cells, tasks, suite_hash(loaded)


def describe_mismatch(stored: dict[str, TaskState], tasks: Iterable[Task], stored_cells: set[str]) -> str:
    """What changed between a stored run's tasks and the suite's tasks now, in a few words."""
    now = {t.id: t for t in tasks}
    stored_ids = {k for k, v in stored.items() if not v.warmup}
    added = [t for i, t in now.items() if i not in stored_ids]
    removed = stored_ids - set(now)
    new_cells = {t.cell_id for t in added} - stored_cells
    parts = []
    if added:
        parts.append(f"{len(added)} task(s) would be new")
    if removed:
        parts.append(f"{len(removed)} stored task(s) are no longer in the suite")
    if new_cells:
        parts.append(
            f"{len(new_cells)} grid cell(s) changed (settings, model, prompt, numberResults or delivery)"
        )
    samples = {t.sample_id for t in added}
    if added and not new_cells:
        parts.append(f"samples or seeds changed ({len(samples)} sample(s) affected)")
    return "; ".join(parts) or "the suite hash changed"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # Linear interpolation between closest ranks (numpy's default), without importing numpy.
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _default_provider(target: Target, api_key: str | None) -> AbstractAsyncContextManager[Provider]:
    from runners.providers import open_provider

    return open_provider(target, api_key=api_key)


async def _score(
    db: Path,
    suite: Suite,
    target: Target,
    factory: Callable[[Target], AbstractAsyncContextManager[Provider]],
    warn: Callable[[str], None],
) -> None:
    if not suite.scorers:
        return
    try:
        from evals.scorers.model_graded import ProviderJudge
        from evals.scoring import score_run_async
    except ImportError:
        warn("scoring is not available in this installation; run `evals score` later")
        return
    refs = list(suite.scorers)
    graded = [r for r in refs if r.name == "model_graded"]
    try:
        if not graded:
            await score_run_async(db, refs)
            return
        # Judge calls go through a provider of their own, so their usage and cost stay apart
        # (table judge_calls) from the run's.
        judge_target = Target.model_validate({**target.model_dump(by_alias=True), **(graded[0].judge or {})})
        async with factory(judge_target) as judge_provider:
            judge = ProviderJudge(judge_provider, judge_target.model)
            await score_run_async(db, refs, judge=judge)
    except Exception as exc:  # a scorer failure must never lose the results already stored
        warn(f"scoring failed ({type(exc).__name__}: {exc}); results are kept, rerun with `evals score`")


def _min_cost_estimate(loaded: LoadedSuite, tasks: list[Task]) -> float | None:
    """The plan's minimum cost estimate (USD) for ``tasks``, or None when it cannot be priced.

    The plan prices the whole suite; a ``--limit`` or a resume sends fewer tasks, so the estimate is
    scaled by the share of the plan's tasks actually left to send.
    """
    from evals.plan import make_plan

    try:
        plan = make_plan(loaded)
    except Exception:  # planning problems are reported by `evals plan`; here they mean "unknown"
        return None
    if plan.cost_min_usd is None or not plan.tasks:
        return None
    return plan.cost_min_usd * min(1.0, len(tasks) / plan.tasks)


class _Interrupts:
    """Ctrl-C and SIGTERM for the whole run: handled by the executor while it sends, else a cancel."""

    def __init__(self) -> None:
        self.executor: Executor | None = None
        self.cancelled = False

    async def watch(self, scope: anyio.CancelScope, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                if self.executor is None or not self.executor.interrupt():
                    # Setting up or finishing: nothing is in flight, and the store is consistent
                    # at every await, so stopping now is safe.
                    self.cancelled = True
                    scope.cancel()


async def run_suite(loaded: LoadedSuite, *, run_dir: Path, options: RunOptions) -> RunSummary:
    """Run (or resume) ``loaded`` into ``run_dir`` and return what happened.

    Raises ``ResumeMismatch`` when resuming a run whose suite now expands to different tasks,
    ``BudgetReached`` when ``max_cost`` is below the plan's minimum estimate, ``StoreError`` for an
    unusable run database, and ``ConfigError`` for bad overrides. Everything that happens once
    requests are flowing (fatal API errors, budget, interrupts, too many errors) is in the summary's
    ``status`` and ``exit_code`` instead, after the results are saved. With
    ``options.handle_signals``, a Ctrl-C outside the sending phase raises ``KeyboardInterrupt``.
    """
    if not options.handle_signals:
        return await _run_suite(loaded, run_dir, options, None)
    interrupts = _Interrupts()
    result: RunSummary | None = None
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(interrupts.watch, tg.cancel_scope)
        try:
            result = await _run_suite(loaded, run_dir, options, interrupts)
        except Exception as exc:  # re-raised below as itself, not wrapped in an exception group
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
    if result is None:
        raise KeyboardInterrupt
    return result


async def _run_suite(
    loaded: LoadedSuite, run_dir: Path, options: RunOptions, interrupts: _Interrupts | None
) -> RunSummary:
    started = time.perf_counter()
    path = db_path(run_dir)
    warn_list: list[str] = []
    store: RunStore | None = None
    try:
        # Resume reapplies the options the run was started with (overrides, sample limit, budget,
        # cache), each unless given again.
        manifest: Manifest | None = None
        if options.resume:
            store = RunStore.open(path, batch_size=options.batch_size, flush_interval=options.flush_interval)
            manifest = store.manifest()
            stored_args = (manifest.notes or {}).get("options", {})
            overrides = {**stored_args.get("overrides", {}), **options.overrides()}
            limit = options.limit if options.limit is not None else stored_args.get("limit")
            options = options.with_stored(stored_args)
        else:
            overrides = options.overrides()
            limit = options.limit
        run_options = {"overrides": overrides, "limit": limit, **options.limits()}

        suite = apply_overrides(loaded.suite, overrides)
        loaded = dataclasses.replace(loaded, suite=suite)
        target = suite.target
        endpoint_id = endpoint_identity(target)
        cells, all_tasks, shash = _expand(loaded, limit)
        # Built before anything is written: a provider that cannot be configured (no API key, no
        # endpoint) is a usage error, not a run directory with an interrupted run in it.
        factory = options.provider_factory or (lambda t: _default_provider(t, options.api_key))
        provider_cm = factory(target)
        # This session's clock: perf_counter values mean nothing on another boot or host, so each
        # session keeps its own origin and places it on the run's timeline by the wall clock.
        session_origin = time.perf_counter()
        session_wall = time.time()

        if store is None:
            # Refused before anything is written: a run that cannot start must not be left "running".
            _check_min_cost(loaded, all_tasks, options.max_cost, 0.0)
            run_id = uuid.uuid4().hex
            manifest = Manifest(
                run_id=run_id,
                suite_name=suite.name,
                suite_path=str(Path(loaded.path).resolve()) if getattr(loaded, "path", None) else None,
                suite_text=loaded.text,
                suite_hash=shash,
                provider=target.provider,
                harness_version=harness_version(),
                started_at=utc_now(),
                expanded=suite.model_dump(mode="json", by_alias=True),
                cli_args=options.cli_args,
                git_commit=git_commit(Path(getattr(loaded, "base_dir", None) or ".")),
                host=host_description(),
                endpoint=target.endpoint,
                model=target.model,
                monotonic_origin=session_origin,
                notes={"options": run_options, "wall_origin": session_wall},
            )
            store = RunStore.create(
                path,
                manifest,
                cells=cells,
                tasks=all_tasks,
                batch_size=options.batch_size,
                flush_interval=options.flush_interval,
            )
            offset = 0.0
            spent_before = 0.0
        else:
            assert manifest is not None
            if not options.allow_provider_change:
                _check_same_target(store, manifest, target, endpoint_id, run_dir)
            states = store.task_states()
            stored_ids = {k for k, v in states.items() if not v.warmup}
            # Resume compares task identities, not the suite hash: a changed scorer or gate changes
            # the hash but not one request, and re-scoring needs no resend.
            if stored_ids != {t.id for t in all_tasks}:
                what = describe_mismatch(states, all_tasks, store.cell_ids())
                raise ResumeMismatch(
                    f"{run_dir}: the suite changed since this run started and its tasks differ: {what}. "
                    "Start a new run instead (or restore the suite)."
                )
            run_id = manifest.run_id
            # --max-cost covers the run's whole life: earlier sessions' spending counts, warm-up
            # included, and a task whose cost never came back at its worst case.
            known, unreported = store.spent_so_far()
            spent_before = known + sum(request_worst_case(r) or 0.0 for r in unreported)
            _check_min_cost(loaded, _todo(all_tasks, states), options.max_cost, spent_before)
            offset = _session_offset(store, manifest, session_wall)
        session = SessionInfo(
            provider=target.provider,
            endpoint=endpoint_id,
            model=target.model,
            monotonic_origin=session_origin,
            wall_origin=session_wall,
            run_offset=offset,
        )
        notes = {**(manifest.notes or {}), "options": run_options}
        return await _run_stored(
            loaded,
            store,
            run_dir,
            run_id,
            session,
            all_tasks,
            target,
            options,
            started,
            warn_list,
            provider_cm,
            interrupts,
            spent_before=spent_before,
            notes=notes,
        )
    finally:
        if store is not None:
            store.close()


def _todo(all_tasks: list[Task], states: dict[str, TaskState]) -> list[Task]:
    """The tasks a session sends: pending ones, and errored ones whose error was not permanent."""
    return [
        t
        for t in all_tasks
        if states[t.id].status == "pending"
        or (states[t.id].status == "errored" and states[t.id].error_class != ErrorClass.PERMANENT.value)
    ]


def _check_min_cost(loaded: LoadedSuite, todo: list[Task], max_cost: float | None, spent: float) -> None:
    """Refuse (``BudgetReached``) when the plan's minimum for ``todo`` is above what is left."""
    if max_cost is None or not todo:
        return
    minimum = _min_cost_estimate(loaded, todo)
    if minimum is not None and minimum > max_cost - spent:
        already = f" minus {spent:.4f} USD already spent by this run" if spent else ""
        raise BudgetReached(
            f"the plan's minimum cost estimate {minimum:.4f} USD is above --max-cost {max_cost:g}{already}"
        )


def _check_same_target(
    store: RunStore, manifest: Manifest, target: Target, endpoint_id: str, run_dir: Path
) -> None:
    """Refuse (``ResumeMismatch``) a resume that would send to another provider, endpoint or model.

    Compared with the last session that recorded where it sent (a resume allowed to change keeps
    the new target from then on), else with the target the run was created with.
    """
    recorded = [s for s in store.sessions() if s.provider is not None]
    if recorded:
        before = (recorded[-1].provider, recorded[-1].endpoint, recorded[-1].model)
    else:
        try:
            stored = Target.model_validate((manifest.expanded or {})["target"], strict=False)
            before = (stored.provider, endpoint_identity(stored), stored.model)
        except Exception:  # an expanded suite this version cannot read: the manifest's own fields
            before = (manifest.provider, manifest.endpoint, manifest.model)
    now = (target.provider, endpoint_id, target.model)
    diffs = [
        f"{name} {old!r} → {new!r}"
        for name, old, new in zip(("provider", "endpoint", "model"), before, now, strict=True)
        if old is not None and old != new
    ]
    if diffs:
        raise ResumeMismatch(
            f"{run_dir}: this run was sent elsewhere: {'; '.join(diffs)}. Resuming would mix results "
            "of two targets in one run; pass --allow-provider-change to do it anyway, or start a new run."
        )


def _session_offset(store: RunStore, manifest: Manifest, wall_now: float) -> float:
    """Where a resumed session starts on the run's timeline, in seconds since the run started.

    From the wall clock (the only clock shared across reboots and hosts), never before anything
    already stored, so relative times stay monotone even when the wall clock stepped back.
    """
    sessions = store.sessions()
    run_wall = next((s.wall_origin for s in sessions if s.wall_origin is not None), None)
    if run_wall is None:
        run_wall = (manifest.notes or {}).get("wall_origin")
    if run_wall is None:
        run_wall = datetime.fromisoformat(manifest.started_at.replace("Z", "+00:00")).timestamp()
    previous = max((s.run_offset for s in sessions if s.run_offset is not None), default=0.0)
    return max(wall_now - float(run_wall), store.timeline_end(), previous)


async def _run_stored(
    loaded: LoadedSuite,
    store: RunStore,
    run_dir: Path,
    run_id: str,
    session: SessionInfo,
    all_tasks: list[Task],
    target: Target,
    options: RunOptions,
    started: float,
    warn_list: list[str],
    provider_cm: AbstractAsyncContextManager[Provider],
    interrupts: _Interrupts | None = None,
    *,
    spent_before: float = 0.0,
    notes: dict[str, Any] | None = None,
) -> RunSummary:
    states = store.task_states()
    prior_attempts = {
        row[0]: int(row[1])
        for row in store.execute("SELECT task_id, MAX(number) FROM attempts GROUP BY task_id")
    }
    todo = _todo(all_tasks, states)

    # Warm-up: copies of the first tasks under their own ids, sent first, stored apart, never counted.
    warmups: list[Task] = []
    if target.warmup and todo:
        candidates = [
            dataclasses.replace(t, id=f"warmup-{i}-{t.id}") for i, t in enumerate(all_tasks[: target.warmup])
        ]
        store.add_tasks(candidates, warmup=True)
        states = store.task_states()
        warmups = [w for w in candidates if states[w.id].status != "done"]

    cache: ResponseCache | None = None
    if options.cache is not False:
        cache = ResponseCache(options.cache_path or default_cache_path(), refresh=bool(options.refresh_cache))
    total = sum(1 for s in states.values() if not s.warmup)
    already_done = sum(1 for s in states.values() if not s.warmup and s.status == "done")
    progress = Progress(
        total=total,
        already_done=already_done,
        mode=options.progress,
        title=f"{loaded.suite.name} → {run_dir}",
    )
    # Both limits are the run's: earlier sessions' spending and sent tasks count against them.
    budget = Budget(
        max_cost=options.max_cost,
        max_tasks=options.max_tasks,
        spent=spent_before,
        dispatched=sum(1 for t in all_tasks if prior_attempts.get(t.id, 0) > 0),
    )
    max_errors = math.floor(target.max_error_rate * total) if total else None
    segment = store.begin_segment(os.getpid(), options.cli_args, session)
    store.set_status("running", ended=False, notes=notes)
    # Relative times of this session: perf_counter() - monotonic_origin + run_offset.
    origin = (session.monotonic_origin or 0.0) - (session.run_offset or 0.0)

    executor: Executor | None = None
    try:
        async with provider_cm as provider:
            executor = Executor(
                store=store,
                provider=provider,
                target=target,
                run_id=run_id,
                origin=origin,
                cache=cache,
                endpoint_id=session.endpoint or endpoint_identity(target),
                budget=budget,
                progress=progress,
                grace_period=options.grace_period,
                max_errors=max_errors,
                rng_seed=loaded.suite.seed,
                task_uuids={k: v.task_uuid for k, v in states.items() if v.task_uuid},
            )
            if interrupts is not None:
                interrupts.executor = executor
            try:
                await executor.execute(todo, warmups, prior_attempts)
            finally:
                if interrupts is not None:
                    interrupts.executor = None
    except BaseException:
        # Cancelled from outside or crashed: what is committed stays; mark the run for resume.
        with anyio.CancelScope(shield=True):
            store.set_status("interrupted")
            sent = executor.sent if executor else 0
            reqs = executor.requests if executor else 0
            store.end_segment(segment, "interrupted", tasks_sent=sent, requests=reqs)
        if cache is not None:
            cache.close()
        raise
    if cache is not None:
        cache.close()

    assert executor is not None
    if executor.lag is not None and (lag_warning := executor.lag.warning()):
        warn_list.append(lag_warning)
    if budget.max_cost is not None and budget.unknown_cost_tasks:
        warn_list.append(
            f"{budget.unknown_cost_tasks} task(s) had no known price: --max-cost counts only reported costs for them"
        )

    counts = Counter(row[0] for row in store.execute("SELECT status FROM tasks WHERE warmup = 0"))
    errored = counts.get("errored", 0)
    reason = executor.stop.reason
    if reason == "interrupted":
        status = "interrupted"
    elif reason == "fatal":
        status = "failed"
    elif reason == "budget":
        status = "budget"
    elif reason == "errors" or (total and errored / total > target.max_error_rate):
        status = "failed"
        executor.stop.message = executor.stop.message or (
            f"{errored} of {total} tasks errored, above target.max_error_rate {target.max_error_rate:g}"
        )
    elif counts.get("pending", 0):
        status = "interrupted"
    else:
        status = "completed"
    store.end_segment(segment, status, tasks_sent=executor.sent, requests=executor.requests)
    store.set_status(status, ended=status != "running")

    if options.score and status != "interrupted":
        factory = options.provider_factory or (lambda t: _default_provider(t, options.api_key))
        await _score(store.path, loaded.suite, target, factory, warn_list.append)

    return _summarise(
        store,
        run_dir,
        run_id,
        status,
        executor,
        progress,
        started,
        warn_list,
    )


def _summarise(
    store: RunStore,
    run_dir: Path,
    run_id: str,
    status: str,
    executor: Executor,
    progress: Progress,
    started: float,
    warn_list: list[str],
) -> RunSummary:
    counts = Counter(row[0] for row in store.execute("SELECT status FROM tasks WHERE warmup = 0"))
    cost_row = next(
        store.execute("SELECT SUM(cost), COUNT(cost) FROM tasks WHERE warmup = 0 AND status = 'done'")
    )
    latencies = [
        row[0]
        for row in store.execute(
            """SELECT a.t_done - a.t_sent FROM attempts a JOIN tasks t ON t.task_id = a.task_id
            WHERE t.warmup = 0 AND a.error_class IS NULL AND a.t_done IS NOT NULL AND a.t_sent IS NOT NULL
            AND COALESCE(json_extract(a.notes_json, '$.resolved_by'), '') != 'conflict_poll'"""
        )
    ]
    scores: list[dict[str, Any]] = []
    try:
        for cell_id, axes, scorer, mean, n in store.execute(
            """SELECT t.cell_id, c.axes_json, s.scorer, AVG(s.value), COUNT(s.value) FROM scores s
            JOIN tasks t ON t.task_id = s.task_id JOIN cells c ON c.cell_id = t.cell_id
            WHERE t.warmup = 0 AND s.pass_id = (
                SELECT MAX(p.pass_id) FROM scores p WHERE p.task_id = s.task_id
                AND p.result_index = s.result_index AND p.scorer = s.scorer)
            GROUP BY t.cell_id, s.scorer ORDER BY t.cell_id, s.scorer"""
        ):
            scores.append(
                {"cell_id": cell_id, "axes": json.loads(axes or "{}"), "scorer": scorer, "mean": mean, "n": n}
            )
    except Exception as exc:  # a scores table written by another version: the summary goes on without it
        warn_list.append(f"could not read scores: {exc}")
    scores.sort(key=lambda row: (axes_sort_key(row["axes"]), row["scorer"]))
    return RunSummary(
        run_id=run_id,
        run_dir=run_dir,
        db_path=store.path,
        status=status,
        exit_code=int(_EXIT_CODES[status]),
        total=sum(counts.values()),
        done=counts.get("done", 0),
        errored=counts.get("errored", 0),
        pending=counts.get("pending", 0),
        sent=executor.sent,
        cache_hits=progress.cache_hits,
        requests=executor.requests,
        retries=executor.retries,
        cost=cost_row[0] if cost_row[1] else None,
        cost_spent=executor.spent,
        duration_s=time.perf_counter() - started,
        latency_p50=_percentile(latencies, 0.5),
        latency_p95=_percentile(latencies, 0.95),
        latency_p99=_percentile(latencies, 0.99),
        errors_by_class=dict(executor.errors_by_class),
        scores=scores,
        message=executor.stop.message,
        warnings=warn_list,
        concurrency_cuts=executor.limiter.cuts,
        final_concurrency=executor.limiter.limit,
        cost_unknown_tasks=executor.budget.unreported_tasks,
        cost_unknown_worst=None if executor.budget.unreported_unpriced else executor.budget.unreported_worst,
    )


def run_suite_sync(loaded: LoadedSuite, *, run_dir: Path, options: RunOptions) -> RunSummary:
    """``run_suite`` from synchronous code (uses uvloop when it is installed)."""
    backend_options: dict[str, Any] = {}
    try:
        import uvloop  # noqa: F401

        backend_options["use_uvloop"] = True
    except ImportError:
        pass
    with warnings.catch_warnings():
        return anyio.run(
            lambda: run_suite(loaded, run_dir=run_dir, options=options),
            backend="asyncio",
            backend_options=backend_options,
        )


def _spent_text(summary: RunSummary) -> str:
    """What this session spent; a lower bound when some requests' costs never came back."""
    n = summary.cost_unknown_tasks
    if not n:
        return f"{summary.cost_spent:.6f} USD"
    worst = summary.cost_unknown_worst
    what = f"{n} task(s) of unknown cost" + (f", up to {worst:.6f} USD" if worst else "")
    if not summary.cost_spent:
        return f"unknown ({what})"
    return f"≥{summary.cost_spent:.6f} USD ({what})"


def print_summary(summary: RunSummary, file: Any = None) -> None:
    """A short end-of-run summary: status, counts, cost, latency, errors, scores, where it is."""
    out = file or sys.stderr
    lines = [
        f"run {summary.status}: {summary.done}/{summary.total} done, {summary.errored} errored, "
        f"{summary.pending} pending, {summary.cache_hits} from cache, {summary.requests} requests, "
        f"{summary.retries} retries, {summary.duration_s:.1f} s",
    ]
    cost = "unknown" if summary.cost is None else f"{summary.cost:.6f} USD"
    lines.append(f"cost: {cost} (spent this session: {_spent_text(summary)})")
    if summary.latency_p50 is not None:
        lines.append(
            f"latency: p50 {summary.latency_p50 * 1000:.0f} ms, p95 {(summary.latency_p95 or 0) * 1000:.0f} ms, "
            f"p99 {(summary.latency_p99 or 0) * 1000:.0f} ms"
        )
    if summary.errors_by_class:
        lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.errors_by_class.items())))
    if summary.concurrency_cuts:
        lines.append(f"concurrency cut {summary.concurrency_cuts} time(s), now {summary.final_concurrency}")
    for s in summary.scores:
        mean = "n/a" if s["mean"] is None else f"{s['mean']:.3f}"
        axes = " ".join(f"{k.removeprefix('settings.')}={v}" for k, v in sorted(s["axes"].items()))
        lines.append(f"  {axes or s['cell_id']}  {s['scorer']}: {mean} (n={s['n']})")
    if summary.message:
        lines.append(summary.message)
    lines.extend(f"warning: {w}" for w in summary.warnings)
    lines.append(f"run directory: {summary.run_dir}")
    if summary.status in ("interrupted", "budget", "failed") and summary.pending + summary.errored:
        hint = ""
        if summary.status == "budget":
            # The limits are the run's and a resume keeps them: resuming as-is stops again at once.
            hint = "  (with a higher --max-cost or --max-tasks: the run's limits carry over)"
        lines.append(f"resume with: {summary.resume_command}{hint}")
    print("\n".join(lines), file=out)
