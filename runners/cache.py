"""The response cache: answers shared across runs, so an unchanged rerun makes no API call.

One SQLite file (default ``~/.cache/evals-harness/responses.sqlite``; the directory can be moved
with ``EVALS_CACHE_DIR`` or ``--cache-path``) maps a request's identity to the answer it got.

The identity is a hash of where the request went (provider and endpoint) and everything in it that
can change the answer: model, messages, settings, seed, numberResults, delivery and the include
flags. It never contains the ``taskUUID``, which is new for every run. Replicates carry distinct
seeds, so they have distinct keys and are never served each other's answers.

Only complete, successful answers are cached: an error is never replayed. A hit keeps the cost the
answer had when it was produced (reports compare like with like) while the run records that it spent
nothing on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.errors import ConfigError
from evals.records import Attempt, Generation, Usage

CACHE_FILE = "responses.sqlite"
KEY_VERSION = 1  # bump when the key's recipe changes so old entries can never match new requests

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    endpoint TEXT,
    model TEXT,
    response_json TEXT NOT NULL,
    cost REAL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""

# Fields of a Runware task that name the request rather than shape its answer.
_NOT_IDENTITY = frozenset({"taskUUID", "webhookURL"})


def default_cache_path() -> Path:
    """``$EVALS_CACHE_DIR/responses.sqlite``, else ``~/.cache/evals-harness/responses.sqlite``."""
    directory = os.environ.get("EVALS_CACHE_DIR")
    base = Path(directory) if directory else Path.home() / ".cache" / "evals-harness"
    return base / CACHE_FILE


def cache_key(provider: str, endpoint: str | None, request: dict[str, Any]) -> str:
    """The identity of ``request`` sent to ``provider`` at ``endpoint``, as a hex digest."""
    identity = {k: v for k, v in request.items() if k not in _NOT_IDENTITY}
    canonical = json.dumps(
        {"v": KEY_VERSION, "provider": provider, "endpoint": endpoint, "request": identity},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """A stored answer: its results, usage and the cost it had when produced."""

    generations: list[Generation]
    usage: Usage | None
    cost: float | None
    cost_source: str | None


def _generation(d: dict[str, Any]) -> Generation:
    usage = d.get("usage")
    return Generation(**{**d, "usage": Usage(**usage) if usage else None})


class ResponseCache:
    """A response cache file. Safe to share between processes (WAL, busy timeout)."""

    def __init__(self, path: Path, *, refresh: bool = False) -> None:
        """Open (creating) the cache at ``path``; with ``refresh`` lookups miss but answers are stored."""
        self.path = path
        self.refresh = refresh
        self.hits = 0
        self.misses = 0
        self._pending: list[tuple[Any, ...]] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Flushed from the run's writer, possibly in a worker thread; never from two at once.
            self._conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # The cache is a convenience: losing its last commits to a power cut only costs a re-send.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ConfigError(f"{path}: cannot open the response cache: {exc}") from exc

    def get(self, key: str) -> CachedResponse | None:
        """The answer stored under ``key``, or None (always None when refreshing)."""
        if self.refresh:
            self.misses += 1
            return None
        row = self._conn.execute("SELECT response_json FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        data = json.loads(row[0])
        self.hits += 1
        usage = data.get("usage")
        return CachedResponse(
            generations=[_generation(g) for g in data["generations"]],
            usage=Usage(**usage) if usage else None,
            cost=data.get("cost"),
            cost_source=data.get("cost_source"),
        )

    def put(self, key: str, provider: str, endpoint: str | None, model: str | None, attempt: Attempt) -> None:
        """Buffer a successful answer under ``key`` (written at the next ``flush``)."""
        if not attempt.ok or not attempt.generations:
            return
        cost_source = next((g.cost_source for g in attempt.generations if g.cost_source), None)
        payload = {
            "generations": [asdict(g) for g in attempt.generations],
            "usage": asdict(attempt.usage) if attempt.usage else None,
            "cost": attempt.cost,
            "cost_source": cost_source,
        }
        self._pending.append((key, provider, endpoint, model, json.dumps(payload), attempt.cost))

    def flush(self) -> None:
        """Write buffered answers in one transaction."""
        if not self._pending:
            return
        with self._conn:
            self._conn.executemany(
                """INSERT OR REPLACE INTO responses(key, provider, endpoint, model, response_json, cost)
                VALUES (?,?,?,?,?,?)""",
                self._pending,
            )
        self._pending.clear()

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self.flush()
        self._conn.close()
