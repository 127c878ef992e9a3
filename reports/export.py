"""CSV and Parquet exports of a run's frames, one file per frame under ``<run_dir>/frames/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from reports.render import ReportData


def frames_to_export(data: ReportData) -> dict[str, pd.DataFrame]:
    """Name -> frame: the run's raw frames and the computed tables."""
    run = data.run
    return {
        "cells": run.cells,
        "tasks": run.tasks,
        "attempts": run.attempts,
        "results": run.results.drop(columns=["text", "reasoning"]),
        "scores": run.scores.drop(columns=["explanation"]),
        "cell_summary": data.summary,
        "latency": data.latency,
        "cost": data.costs,
        "errors": data.errors,
        "finish_reasons": data.finish_reasons,
        "pass_at_k": data.pass_at_k,
    }


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns (axis values of mixed types) as strings: Parquet needs one type per column."""
    obj = [c for c in frame.columns if frame[c].dtype == object]
    return frame.astype({c: "string" for c in obj}) if obj else frame


def export_frames(data: ReportData, out_dir: Path, fmt: str) -> list[Path]:
    """Write every frame as ``<name>.csv`` or ``<name>.parquet``; returns the paths.

    Texts (outputs, reasoning, explanations) stay in the run database: on a large run they would
    dominate the exports; ``reports.load(run_dir)`` gives them to a notebook."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown export format {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames_to_export(data).items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            _parquet_safe(frame).to_parquet(path, index=False)
        paths.append(path)
    return paths
