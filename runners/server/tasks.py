"""The server's memory of tasks: results keyed by taskUUID, and the counters tests rely on.

A taskUUID is claimed when its task is admitted and kept until ``result_ttl`` after it finished,
so a reused UUID is refused (``conflictTaskUUID``) and ``getResponse`` can still answer. A task
refused before generation, or whose generation was discarded, releases its UUID. Records and the
per-taskUUID counters are keyed by the canonical UUID (``InferenceTask.key``); the counters of a
UUID are forgotten once it has no record and was last counted more than ``result_ttl`` ago, so a
long-running server's memory stays bounded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from runners.server.protocol import InferenceTask, ProtocolError

Status = Literal["processing", "success", "error"]


@dataclass
class TaskRecord:
    """One admitted textInference task and what it has produced so far."""

    task: InferenceTask
    status: Status = "processing"
    results: list[dict[str, Any]] = field(default_factory=list)  # finished result items, in order
    error: ProtocolError | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    finished_at: float | None = None
    fault: str | None = None  # the injected fault that applies to this task's answer, if any


class TaskStore:
    """Records and counters. Mutated in the event loop; ``stats()`` may be read from any thread."""

    def __init__(self, result_ttl: float = 3600.0) -> None:
        self.result_ttl = result_ttl
        self.records: dict[str, TaskRecord] = {}
        self.requests: Counter[str] = Counter()  # textInference POSTs per taskUUID, refused ones included
        self.polls: Counter[str] = Counter()  # getResponse asks per taskUUID
        self.paid: Counter[str] = Counter()  # generations kept and charged, per taskUUID (must stay <= 1)
        self.paid_results: Counter[str] = Counter()  # results charged per taskUUID
        self.faults: Counter[str] = Counter()  # faults injected, by kind
        self.webhook_posts: Counter[str] = Counter()  # webhook POST attempts per taskUUID
        self.in_flight = 0
        self._finished: deque[tuple[float, str]] = deque()
        self._touched: deque[tuple[float, str]] = deque()  # (when, key) each time a counter moved
        self._last_touch: dict[str, float] = {}
        self._lock = threading.Lock()  # stats() snapshots from another thread

    def count_request(self, task_uuid: str) -> int:
        """Count one more POST of ``task_uuid``; returns its 1-based attempt number."""
        with self._lock:
            self.requests[task_uuid] += 1
            self._touch(task_uuid)
            return self.requests[task_uuid]

    def count(self, counter: Counter[str], key: str, n: int = 1) -> None:
        with self._lock:
            counter[key] += n
            if counter is not self.faults:  # faults are counted by kind, not per taskUUID
                self._touch(key)

    def _touch(self, key: str) -> None:
        now = time.monotonic()
        if self._last_touch.get(key) != now:
            self._last_touch[key] = now
            self._touched.append((now, key))

    def get(self, task_uuid: str) -> TaskRecord | None:
        self._expire()
        return self.records.get(task_uuid)

    def claim(self, task: InferenceTask) -> TaskRecord:
        """Admit ``task`` under its UUID, or raise ``conflictTaskUUID`` if that UUID is taken."""
        if self.get(task.key) is not None:
            raise ProtocolError(
                409,
                "conflictTaskUUID",
                "this taskUUID was already used; poll it with getResponse instead of sending it again",
                "taskUUID",
                "textInference",
                task.task_uuid,
            )
        record = TaskRecord(task=task)
        self.records[task.key] = record
        return record

    def release(self, task_uuid: str) -> None:
        """Forget a task whose generation was refused or discarded: its UUID may be sent again."""
        self.records.pop(task_uuid, None)

    def finish(self, record: TaskRecord) -> None:
        """Mark ``record`` finished now; it is forgotten ``result_ttl`` seconds later."""
        record.finished_at = time.monotonic()
        self._finished.append((record.finished_at, record.task.key))
        record.done.set()

    def _expire(self) -> None:
        # Finish times only grow, so the oldest are at the left: O(expired), not O(all records).
        cutoff = time.monotonic() - self.result_ttl
        while self._finished and self._finished[0][0] < cutoff:
            _, uuid = self._finished.popleft()
            record = self.records.get(uuid)
            if record is not None and record.finished_at is not None and record.finished_at < cutoff:
                del self.records[uuid]
                self._forget_counters(uuid, cutoff)
        while self._touched and self._touched[0][0] < cutoff:
            _, key = self._touched.popleft()
            if key not in self.records:  # a live record's counters go when the record expires
                self._forget_counters(key, cutoff)

    def _forget_counters(self, key: str, cutoff: float) -> None:
        """Drop the counters of ``key`` unless one moved since ``cutoff`` (a later touch is queued)."""
        with self._lock:
            last = self._last_touch.get(key)
            if last is None or last >= cutoff:
                return
            del self._last_touch[key]
            for counter in (self.requests, self.polls, self.paid, self.paid_results, self.webhook_posts):
                counter.pop(key, None)

    def stats(self) -> dict[str, Any]:
        """A snapshot: requests, polls, paid tasks and paid results per taskUUID, faults by kind."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "polls": dict(self.polls),
                "paid": dict(self.paid),
                "paid_results": dict(self.paid_results),
                "faults": dict(self.faults),
                "webhook_posts": dict(self.webhook_posts),
                "in_flight": self.in_flight,
                "total_requests": sum(self.requests.values()),
                "total_paid_results": sum(self.paid_results.values()),
            }
