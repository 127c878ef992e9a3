"""Baseline files: a run reduced to what a later comparison needs, small enough to commit.

The file is JSON with sorted keys, one top-level key per line and one sample per line, so a changed
baseline shows in a review as the lines of the samples that changed::

    {
    "cells": {"<cell id>": {"settings.temperature": 0.2}},
    "created_at": "2026-01-01T00:00:00+00:00",
    "format": "evals-baseline",
    "format_version": 1,
    "harness_version": "0.1.0",
    "metrics": {"<cell id>": {"cost_per_task": 1.2e-05, "exact": 0.71, "latency_p95": 3.2, ...}},
    ...
    "units": [
    {"cell_id": "...", "cost_sum": 1.2e-05, ..., "sample_id": "q1", "scores": {"exact": [1.0, 1]}},
    ...
    ]
    }

``units`` holds the per-sample unit table of ``reports.compare`` (the source of truth of a
comparison); ``metrics`` holds per-cell summaries for a reader and is recomputed, never trusted.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals.errors import ConfigError
from reports.compare import COUNT_PREFIX, SCORE_PREFIX, UNIT_COLUMNS, RunSummary, summarize_run

FORMAT = "evals-baseline"
FORMAT_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
_INT_COLUMNS = ("n_tasks", "n_done", "n_errored", "n_cost")


def _num(x: Any) -> float | int | None:
    """A JSON-safe number: NaN becomes null, floats keep 10 significant digits (stable diffs)."""
    if x is None:
        return None
    f = float(x)
    if math.isnan(f):
        return None
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return float(f"{f:.10g}")


def cell_metrics(summary: RunSummary) -> dict[str, dict[str, float | int | None]]:
    """Per-cell summaries for a reader of the file: each score's mean, latency quantiles, cost per task."""
    out: dict[str, dict[str, float | int | None]] = {}
    for cell_id, cell in summary.units.groupby("cell_id", sort=True):
        m: dict[str, float | int | None] = {"samples": len(cell)}
        for scorer in sorted(summary.scorers):
            col = cell[SCORE_PREFIX + scorer].dropna()
            m[scorer] = _num(col.mean()) if len(col) else None
        lat = cell["latency_s"].dropna()
        m["latency_p50"] = _num(np.quantile(lat, 0.5)) if len(lat) else None
        m["latency_p95"] = _num(np.quantile(lat, 0.95)) if len(lat) else None
        n_cost = int(cell["n_cost"].sum())
        m["cost_per_task"] = _num(cell["cost_sum"].sum() / n_cost) if n_cost else None
        out[str(cell_id)] = m
    return out


def _unit_rows(summary: RunSummary) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rec in summary.units.to_dict("records"):
        row: dict[str, Any] = {"cell_id": str(rec["cell_id"]), "sample_id": str(rec["sample_id"])}
        for col in UNIT_COLUMNS[2:]:
            row[col] = _num(rec.get(col))
        row["scores"] = {
            s: [_num(rec.get(SCORE_PREFIX + s)), _num(rec.get(COUNT_PREFIX + s)) or 0]
            for s in sorted(summary.scorers)
            if _num(rec.get(SCORE_PREFIX + s)) is not None
        }
        rows.append(row)
    return rows


def write_baseline(summary: RunSummary, out: str | Path) -> Path:
    """Write ``summary`` as a baseline file at ``out`` and return its path."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "suite_name": summary.suite_name,
        "suite_hash": summary.suite_hash,
        "harness_version": summary.harness_version,
        "run_id": summary.run_id,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "counts": {
            "cells": summary.cell_count,
            "samples": summary.sample_count,
            "tasks": int(summary.units["n_tasks"].sum()),
            "errored": int(summary.units["n_errored"].sum()),
        },
        "scorers": dict(sorted(summary.scorers.items())),
        "cells": {k: summary.cells.get(k, {}) for k in sorted(set(summary.units["cell_id"]))},
        "metrics": cell_metrics(summary),
    }
    lines = ["{"]
    for key in sorted(doc):
        lines.append(f"{json.dumps(key)}: {json.dumps(doc[key], sort_keys=True)},")
    unit_lines = [json.dumps(r, sort_keys=True) for r in _unit_rows(summary)]
    lines.append('"units": [')
    lines.append(",\n".join(unit_lines))
    lines.append("]")
    lines.append("}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def save_baseline(run_dir: str | Path, out: str | Path) -> Path:
    """``evals baseline save RUN_DIR --out FILE``: summarise a run and write its baseline file."""
    return write_baseline(summarize_run(run_dir), out)


def is_baseline_file(path: str | Path) -> bool:
    """True unless the file is a SQLite database (a run's ``run.sqlite``)."""
    with open(path, "rb") as fh:
        return fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC


def load_baseline(path: str | Path) -> RunSummary:
    """Read a baseline file back into a ``RunSummary``; a malformed file is a ``ConfigError``."""
    import pandas as pd

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable baseline file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f'{path}: not a baseline file (expected "format": "{FORMAT}")')
    if doc.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path}: baseline format version {doc.get('format_version')} is not supported "
            f"(this harness reads version {FORMAT_VERSION}); save the baseline again"
        )
    scorers = dict(doc.get("scorers") or {})
    records: list[dict[str, Any]] = []
    try:
        for u in doc["units"]:
            rec: dict[str, Any] = {c: u.get(c) for c in UNIT_COLUMNS}
            for s in scorers:
                value, count = (u.get("scores") or {}).get(s, [None, 0])
                rec[SCORE_PREFIX + s] = value
                rec[COUNT_PREFIX + s] = count
            records.append(rec)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed baseline units ({exc})") from exc
    columns = list(UNIT_COLUMNS) + [p + s for s in sorted(scorers) for p in (SCORE_PREFIX, COUNT_PREFIX)]
    units = pd.DataFrame.from_records(records, columns=columns)
    for col in columns:
        if col in ("cell_id", "sample_id"):
            units[col] = units[col].astype(str)
        elif col == "n_cached":
            # Baselines saved before this column existed do not say: unknown (NaN), not 0.
            units[col] = pd.to_numeric(units[col]).astype(float)
        elif col in _INT_COLUMNS or col.startswith(COUNT_PREFIX):
            units[col] = pd.to_numeric(units[col]).fillna(0).astype("int64")
        else:
            units[col] = pd.to_numeric(units[col]).astype(float)
    return RunSummary(
        label=str(path),
        suite_name=str(doc.get("suite_name", "")),
        suite_hash=str(doc.get("suite_hash", "")),
        harness_version=str(doc.get("harness_version", "")),
        units=units,
        scorers=scorers,
        cells={str(k): v for k, v in (doc.get("cells") or {}).items()},
        run_id=doc.get("run_id"),
    )
