"""The run database: one SQLite file per run, written by the runner and read by reports.

Crash safety comes from SQLite itself, used carefully:

- WAL journal with ``synchronous=FULL``: a commit is on disk when it returns, and a crash, a
  ``kill -9`` or a power cut at any moment leaves the database as of the last commit, never corrupt.
- The runner's results are buffered and committed in small batches, when ``batch_size`` rows are
  waiting or ``flush_interval`` seconds have passed, whichever comes first. So a crash loses at most
  the uncommitted batch, and resume sends those tasks again.
- A task's final row, its results and its attempts are written in the same transaction, so a task
  is either finished with all its results or still pending: never half-finished.

The schema is ``evals/store_schema.sql``; ``SCHEMA_VERSION`` is stored in ``schema_version`` and an
older database is migrated forward in place when opened for writing (``MIGRATIONS``). A database from
a newer harness is refused rather than guessed at.

Infrastructure failures are stored as such (``tasks.status = 'errored'`` with the error class); they
never become a score. Reports treat an errored task as missing, not as wrong.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from evals.errors import StoreError
from evals.records import ApiError, Attempt, Cell, Generation, Task, Usage

SCHEMA_VERSION = 4

# Columns version 3 added to ``segments``: where each session sent its requests, and the clock it
# timed them with (see ``SessionClock``).
_SEGMENT_V3_COLUMNS = (
    ("provider", "TEXT"),
    ("endpoint", "TEXT"),
    ("model", "TEXT"),
    ("monotonic_origin", "REAL"),
    ("wall_origin", "REAL"),
    ("run_offset", "REAL"),
)

# version -> statements that bring a database at that version to the next one. Additive only.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS segments (
            segment INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, status TEXT,
            pid INTEGER, cli_args_json TEXT, tasks_sent INTEGER, requests INTEGER)""",
    ),
    2: tuple(f"ALTER TABLE segments ADD COLUMN {name} {kind}" for name, kind in _SEGMENT_V3_COLUMNS),
    # Version 4: the answer a scorer extracted, so majority vote over a stored run votes on answers.
    # Rows scored before stay NULL (their majority falls back to the pass/fail verdicts).
    3: ("ALTER TABLE scores ADD COLUMN answer TEXT",),
}

TASK_STATUSES = ("pending", "done", "errored", "skipped")
RUN_STATUSES = ("running", "completed", "interrupted", "failed", "budget")


def utc_now() -> str:
    """The wall clock as ISO-8601 UTC text, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def schema_sql() -> str:
    """The text of ``store_schema.sql`` (the current version)."""
    return resources.files("evals").joinpath("store_schema.sql").read_text(encoding="utf-8")


@dataclass
class Manifest:
    """What the ``run`` table records about a run; written once when the run is created."""

    run_id: str
    suite_name: str
    suite_text: str
    suite_hash: str
    provider: str
    harness_version: str
    started_at: str
    suite_path: str | None = None
    expanded: dict[str, Any] | None = None
    cli_args: dict[str, Any] | None = None
    git_commit: str | None = None
    host: str | None = None
    endpoint: str | None = None
    model: str | None = None
    monotonic_origin: float | None = None
    notes: dict[str, Any] | None = None
    status: str = "running"
    ended_at: str | None = None


@dataclass(frozen=True)
class SessionInfo:
    """Where one session (segment) of a run sent its requests and how it timed them.

    Monotonic clocks (``perf_counter``) only mean something within one boot of one host, so each
    session stores its own origin; ``run_offset`` places that origin on the run's timeline (seconds
    since the run started, from the wall clock), so relative times stay comparable across sessions.
    """

    provider: str | None = None
    endpoint: str | None = None  # the endpoint identity (runners.runner.endpoint_identity)
    model: str | None = None
    monotonic_origin: float | None = None  # perf_counter() at the session's start
    wall_origin: float | None = None  # time.time() at the same moment
    run_offset: float | None = None  # where that moment is on the run's timeline (seconds)


@dataclass(frozen=True)
class TaskState:
    """What resume needs to know about a stored task."""

    task_id: str
    status: str
    attempts: int
    task_uuid: str | None
    error_class: str | None
    warmup: bool


@dataclass
class TaskOutcome:
    """The final state of one task, written with its results in one transaction."""

    task_id: str
    status: str  # done | errored | skipped
    attempts: int  # attempts made over the run's whole life (all sessions)
    task_uuid: str | None = None
    error: ApiError | None = None
    generations: list[Generation] = field(default_factory=list)
    usage: Usage | None = None
    cost: float | None = None  # what the answer cost when it was produced
    cost_spent: float | None = None  # what this run paid for it (0 for a cache hit)
    cost_source: str | None = None
    cache_hit: bool = False
    scheduled_at: float | None = None  # relative monotonic seconds
    dispatched_at: float | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class RunOverview:
    """One line of ``evals runs``."""

    path: Path
    run_id: str
    suite_name: str
    status: str
    provider: str
    model: str | None
    started_at: str
    ended_at: str | None
    counts: dict[str, int]  # task status -> count (warm-up tasks excluded)
    cache_hits: int
    cost: float | None
    cost_spent: float | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def duration_s(self) -> float | None:
        if not self.ended_at:
            return None
        start = datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        end = datetime.fromisoformat(self.ended_at.replace("Z", "+00:00"))
        return (end - start).total_seconds()


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        else:
            # One writer task owns the connection, but it may commit from a worker thread (so an
            # fsync never stalls the event loop); it never uses it from two threads at once.
            conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a returned commit survives a power cut (NORMAL could lose the last commits).
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the run database: {exc}") from exc
    return conn


def _usage_columns(usage: Usage | None) -> tuple[int | None, int | None, int | None, int | None]:
    """Prompt, completion, total and thinking tokens, in the column order of tasks and results."""
    if usage is None:
        return (None, None, None, None)
    return (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.thinking_tokens)


class RunStore:
    """A run database open for writing. Not thread-safe: one writer task owns it."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, *, batch_size: int = 200, flush_interval: float = 0.2
    ) -> None:
        self._conn = conn
        self.path = path
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._attempts: list[tuple[Any, ...]] = []
        self._tasks: list[TaskOutcome] = []
        self._concurrency: list[tuple[Any, ...]] = []
        self._uuids: list[tuple[str, str]] = []
        self._last_flush = time.monotonic()
        self.commits = 0

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        manifest: Manifest,
        *,
        cells: Iterable[Cell] = (),
        tasks: Iterable[Task] = (),
        **kwargs: Any,
    ) -> RunStore:
        """Create the database at ``path`` with its manifest, cells and tasks, atomically.

        Everything is written to a temporary file beside ``path`` that is renamed into place only
        when complete: a run killed while it is being created leaves no database (and the next
        attempt starts afresh), never one with half a plan that a resume would misread.
        """
        if path.exists():
            raise StoreError(f"{path}: a run database already exists here; resume it or choose another --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".creating")
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
        conn = _connect(tmp)
        try:
            with conn:
                conn.executescript(schema_sql())
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
                conn.execute(
                    """INSERT INTO run(run_id, suite_name, suite_path, suite_text, suite_hash, expanded_json,
                    cli_args_json, harness_version, git_commit, host, provider, endpoint, model, status,
                    started_at, ended_at, monotonic_origin, notes_json)
                    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (
                        manifest.run_id,
                        manifest.suite_name,
                        manifest.suite_path,
                        manifest.suite_text,
                        manifest.suite_hash,
                        _json(manifest.expanded),
                        _json(manifest.cli_args),
                        manifest.harness_version,
                        manifest.git_commit,
                        manifest.host,
                        manifest.provider,
                        manifest.endpoint,
                        manifest.model,
                        manifest.status,
                        manifest.started_at,
                        manifest.ended_at,
                        manifest.monotonic_origin,
                        _json(manifest.notes),
                    ),
                )
            store = cls(conn, tmp)
            store.add_cells(cells)
            store.add_tasks(tasks)
            conn.close()  # checkpoints the WAL into the file, so the rename moves everything
            tmp.replace(path)
            _fsync_dir(path.parent)  # make the rename itself survive a power cut
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path}: cannot create the run database: {exc}") from exc
        return cls.open(path, **kwargs)

    @classmethod
    def open(cls, path: Path, **kwargs: Any) -> RunStore:
        """Open an existing run database for writing, migrating an older schema forward."""
        if not path.is_file():
            raise StoreError(f"{path}: no run database here")
        conn = _connect(path)
        try:
            migrate(conn, path)
            conn.execute("SELECT run_id FROM run").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path}: the run database is unreadable: {exc}") from exc
        return cls(conn, path, **kwargs)

    def close(self) -> None:
        """Commit what is buffered and close."""
        self.flush()
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the manifest ------------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        """The stored manifest."""
        row = self._conn.execute(
            """SELECT run_id, suite_name, suite_path, suite_text, suite_hash, expanded_json, cli_args_json,
            harness_version, git_commit, host, provider, endpoint, model, status, started_at, ended_at,
            monotonic_origin, notes_json FROM run"""
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: the run database has no manifest")
        loads = lambda s: json.loads(s) if s else None  # noqa: E731
        return Manifest(
            run_id=row[0],
            suite_name=row[1],
            suite_path=row[2],
            suite_text=row[3],
            suite_hash=row[4],
            expanded=loads(row[5]),
            cli_args=loads(row[6]),
            harness_version=row[7],
            git_commit=row[8],
            host=row[9],
            provider=row[10],
            endpoint=row[11],
            model=row[12],
            status=row[13],
            started_at=row[14],
            ended_at=row[15],
            monotonic_origin=row[16],
            notes=loads(row[17]),
        )

    def set_status(self, status: str, *, ended: bool = True, notes: dict[str, Any] | None = None) -> None:
        """Set the run's status (and end time), committing everything buffered with it."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        self.flush()
        with self._conn:
            self._conn.execute(
                "UPDATE run SET status = ?, ended_at = ? WHERE 1",
                (status, utc_now() if ended else None),
            )
            if notes is not None:
                self._conn.execute("UPDATE run SET notes_json = ? WHERE 1", (_json(notes),))

    def begin_segment(
        self, pid: int, cli_args: dict[str, Any] | None, session: SessionInfo | None = None
    ) -> int:
        """Record the start of a session (the first run or a resume); returns its number."""
        info = session or SessionInfo()
        with self._conn:
            cur = self._conn.execute(
                """INSERT INTO segments(started_at, pid, cli_args_json, provider, endpoint, model,
                monotonic_origin, wall_origin, run_offset) VALUES (?,?,?,?,?,?,?,?,?)""",
                (
                    utc_now(),
                    pid,
                    _json(cli_args),
                    info.provider,
                    info.endpoint,
                    info.model,
                    info.monotonic_origin,
                    info.wall_origin,
                    info.run_offset,
                ),
            )
        return int(cur.lastrowid or 0)

    def sessions(self) -> list[SessionInfo]:
        """What each earlier session recorded, oldest first (fields are None where it did not)."""
        return [
            SessionInfo(*row)
            for row in self._conn.execute(
                """SELECT provider, endpoint, model, monotonic_origin, wall_origin, run_offset
                FROM segments ORDER BY segment"""
            )
        ]

    def timeline_end(self) -> float:
        """The latest relative time stored anywhere in the run (0 when nothing is), in seconds."""
        row = self._conn.execute(
            """SELECT MAX(t) FROM (
                SELECT MAX(MAX(COALESCE(t_sent, 0)), MAX(COALESCE(t_done, 0))) AS t FROM attempts
                UNION ALL SELECT MAX(COALESCE(dispatched_at, 0)) FROM tasks
                UNION ALL SELECT MAX(t) FROM concurrency)"""
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def spent_so_far(self) -> tuple[float, list[dict[str, Any]]]:
        """What earlier sessions paid: the reported ``cost_spent`` of every task (warm-up included:
        those requests were paid too), and the requests of tasks whose cost is unknown although a
        request of theirs may have been paid (an attempt with no HTTP answer, or a success with no
        cost), so the budget can count their worst case."""
        known = self._conn.execute("SELECT COALESCE(SUM(cost_spent), 0) FROM tasks").fetchone()[0]
        unknown = [
            json.loads(row[0])
            for row in self._conn.execute(
                """SELECT t.request_json FROM tasks t WHERE t.cost_spent IS NULL AND EXISTS (
                    SELECT 1 FROM attempts a WHERE a.task_id = t.task_id
                    AND (a.http_status IS NULL OR a.error_class IS NULL)
                    AND COALESCE(a.error_code, '') != 'conflictTaskUUIDFailed')"""
            )
        ]
        return float(known), unknown

    def end_segment(self, segment: int, status: str, *, tasks_sent: int, requests: int) -> None:
        self.flush()
        with self._conn:
            self._conn.execute(
                "UPDATE segments SET ended_at = ?, status = ?, tasks_sent = ?, requests = ? WHERE segment = ?",
                (utc_now(), status, tasks_sent, requests, segment),
            )

    # -- the plan: cells and tasks -------------------------------------------------------------------

    def add_cells(self, cells: Iterable[Cell]) -> None:
        """Insert cells not stored yet (committed at once: the plan must exist before any result)."""
        rows = [
            (
                c.id,
                _json(c.axes),
                c.model,
                _json(c.settings),
                c.number_results,
                c.delivery_method,
                c.prompt_variant,
            )
            for c in cells
        ]
        with self._conn:
            self._conn.executemany("INSERT OR IGNORE INTO cells VALUES (?,?,?,?,?,?,?)", rows)

    def add_tasks(self, tasks: Iterable[Task], *, warmup: bool = False, chunk: int = 2000) -> int:
        """Insert tasks not stored yet as ``pending``; returns how many were new."""
        added = 0
        batch: list[tuple[Any, ...]] = []

        def write() -> int:
            with self._conn:
                cur = self._conn.executemany(
                    """INSERT OR IGNORE INTO tasks(task_id, cell_id, sample_id, replicate, seed, request_json,
                    sample_json, status, warmup) VALUES (?,?,?,?,?,?,?, 'pending', ?)""",
                    batch,
                )
            return max(cur.rowcount, 0)

        for t in tasks:
            batch.append(
                (
                    t.id,
                    t.cell_id,
                    t.sample_id,
                    t.replicate,
                    t.seed,
                    _json(t.request),
                    _json(asdict(t.sample)),
                    int(warmup),
                )
            )
            if len(batch) >= chunk:
                added += write()
                batch.clear()
        if batch:
            added += write()
        return added

    def set_task_uuids(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record (task_id, task_uuid) for tasks that do not have one yet."""
        with self._conn:
            self._conn.executemany(
                "UPDATE tasks SET task_uuid = ? WHERE task_id = ? AND task_uuid IS NULL",
                [(u, t) for t, u in pairs],
            )

    def task_states(self) -> dict[str, TaskState]:
        """Every stored task's status, attempt count and UUID (what resume decides from)."""
        return {
            row[0]: TaskState(row[0], row[1], row[2], row[3], row[4], bool(row[5]))
            for row in self._conn.execute(
                "SELECT task_id, status, attempts, task_uuid, error_class, warmup FROM tasks"
            )
        }

    def cell_ids(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT cell_id FROM cells")}

    # -- results (buffered) ------------------------------------------------------------------------

    def add_attempt(self, attempt: Attempt, *, origin: float, concurrency_limit: int | None) -> None:
        """Buffer one attempt; its timestamps are stored relative to ``origin`` (perf_counter)."""
        tm = attempt.timing

        def rel(t: float | None) -> float | None:
            return None if t is None else t - origin

        err = attempt.error
        self._attempts.append(
            (
                attempt.task_id,
                attempt.number,
                attempt.task_uuid,
                attempt.http_status,
                err.error_class.value if err else None,
                err.code if err else None,
                err.message if err else None,
                rel(tm.queued),
                rel(tm.sent),
                rel(tm.headers),
                rel(tm.first_token),
                rel(tm.last_token),
                rel(tm.done),
                _json([t - origin for t in tm.token_events]) if tm.token_events else None,
                len(tm.events) if tm.events else None,
                concurrency_limit,
                _json(attempt.notes) if attempt.notes else None,
            )
        )

    def finish_task(self, outcome: TaskOutcome) -> None:
        """Buffer a task's final state and results."""
        if outcome.status not in TASK_STATUSES:
            raise ValueError(f"unknown task status {outcome.status!r}")
        self._tasks.append(outcome)

    def set_task_uuid(self, task_id: str, task_uuid: str) -> None:
        """Buffer a task's new ``taskUUID`` (after a rotation), committed with the next batch."""
        self._uuids.append((task_uuid, task_id))

    def add_concurrency(self, t: float, limit: int, in_flight: int | None, reason: str) -> None:
        """Buffer one point of the concurrency limit's history (``t`` relative to the run origin)."""
        self._concurrency.append((t, limit, in_flight, reason))

    @property
    def buffered(self) -> int:
        """Rows waiting for the next commit."""
        return len(self._attempts) + len(self._tasks) + len(self._concurrency) + len(self._uuids)

    def flush_due(self) -> bool:
        """True when the buffer is big enough or old enough to commit."""
        if not self.buffered:
            return False
        return self.buffered >= self.batch_size or time.monotonic() - self._last_flush >= self.flush_interval

    def seconds_until_due(self) -> float:
        """How long the writer may wait for more rows before it must commit what it has."""
        if not self.buffered:
            return self.flush_interval
        return max(0.0, self.flush_interval - (time.monotonic() - self._last_flush))

    def flush(self) -> int:
        """Commit everything buffered in one transaction; returns the number of rows written."""
        n = self.buffered
        self._last_flush = time.monotonic()
        if not n:
            return 0
        task_rows = []
        result_rows = []
        for o in self._tasks:
            task_rows.append(
                (
                    o.status,
                    o.error.error_class.value if o.error else None,
                    o.error.code if o.error else None,
                    o.error.message if o.error else None,
                    o.attempts,
                    int(o.cache_hit),
                    o.scheduled_at,
                    o.dispatched_at,
                    *_usage_columns(o.usage),
                    o.cost,
                    o.cost_spent,
                    o.cost_source,
                    o.finished_at or utc_now(),
                    o.task_uuid,
                    o.task_id,
                )
            )
            for g in o.generations:
                result_rows.append(
                    (
                        o.task_id,
                        g.index,
                        g.text,
                        g.reasoning,
                        g.finish_reason,
                        g.seed,
                        *_usage_columns(g.usage),
                        g.cost,
                    )
                )
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._attempts,
                )
                # Before the final rows, which carry the latest UUID of a task finished in this batch.
                self._conn.executemany("UPDATE tasks SET task_uuid = ? WHERE task_id = ?", self._uuids)
                self._conn.executemany(
                    """UPDATE tasks SET status=?, error_class=?, error_code=?, error_message=?, attempts=?,
                    cache_hit=?, scheduled_at=?, dispatched_at=?, usage_prompt_tokens=?,
                    usage_completion_tokens=?, usage_total_tokens=?, usage_thinking_tokens=?, cost=?,
                    cost_spent=?, cost_source=?, finished_at=?, task_uuid=COALESCE(?, task_uuid)
                    WHERE task_id=?""",
                    task_rows,
                )
                self._conn.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)", result_rows
                )
                self._conn.executemany("INSERT INTO concurrency VALUES (?,?,?,?)", self._concurrency)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot write results: {exc}") from exc
        self._attempts.clear()
        self._tasks.clear()
        self._concurrency.clear()
        self._uuids.clear()
        self.commits += 1
        return n

    # -- reads -------------------------------------------------------------------------------------

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """Run a read query on the run database (for summaries and tests)."""
        yield from self._conn.execute(sql, params)


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 when it has none: not a run database)."""
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring an open database to ``SCHEMA_VERSION``; returns the version it had."""
    found = stored_version(conn)
    if found == 0:
        raise StoreError(f"{path}: not a run database (no schema version)")
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: written by a newer harness (schema {found}, this one reads up to {SCHEMA_VERSION})"
        )
    with conn:
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS.get(version, ()):
                conn.execute(statement)
        if found != SCHEMA_VERSION:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
    return found


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk (where the platform allows opening directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (a run's writer, for ``evals runs``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_overview(path: Path) -> RunOverview:
    """Summarise one run database without writing to it (for ``evals runs``)."""
    conn = _connect(path, readonly=True)
    try:
        version = stored_version(conn)
        if version == 0 or version > SCHEMA_VERSION:
            raise StoreError(f"{path}: not a run database this harness can read (schema {version})")
        row = conn.execute(
            "SELECT run_id, suite_name, status, provider, model, started_at, ended_at FROM run"
        ).fetchone()
        if row is None:
            raise StoreError(f"{path}: the run database has no manifest")
        counts = {s: 0 for s in TASK_STATUSES}
        for status, n in conn.execute("SELECT status, COUNT(*) FROM tasks WHERE warmup = 0 GROUP BY status"):
            counts[status] = n
        hits, cost = conn.execute(
            "SELECT COALESCE(SUM(cache_hit), 0), SUM(cost) FROM tasks WHERE warmup = 0"
        ).fetchone()
        # Spent counts warm-up tasks: their requests were paid like any other.
        spent = conn.execute("SELECT SUM(cost_spent) FROM tasks").fetchone()[0]
        status = row[2]
        if status == "running" and version >= 2:  # segments (and their pids) exist from version 2
            last = conn.execute("SELECT pid FROM segments ORDER BY segment DESC LIMIT 1").fetchone()
            if last and last[0] and not _alive(int(last[0])):
                status = "killed"  # the process died without saying so (kill -9, power cut): resumable
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: unreadable run database: {exc}") from exc
    finally:
        conn.close()
    return RunOverview(
        path=path,
        run_id=row[0],
        suite_name=row[1],
        status=status,
        provider=row[3],
        model=row[4],
        started_at=row[5],
        ended_at=row[6],
        counts=counts,
        cache_hits=int(hits),
        cost=cost,
        cost_spent=spent,
    )
