"""Where a run lives and what is known about the machine that ran it.

A run directory is ``runs/<suite>-<UTC timestamp>/`` unless ``--out`` names one; it holds the run
database (``run.sqlite``) and, later, the reports. ``runs/`` is git-ignored.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

DB_NAME = "run.sqlite"
DEFAULT_ROOT = Path("runs")


def default_run_dir(suite_name: str, root: Path = DEFAULT_ROOT, *, now: datetime | None = None) -> Path:
    """``root/<suite>-<YYYYmmdd-HHMMSS>``, with a counter suffix if that directory already exists."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    candidate = root / f"{suite_name}-{stamp}"
    n = 2
    while candidate.exists():
        candidate = root / f"{suite_name}-{stamp}-{n}"
        n += 1
    return candidate


def db_path(run_dir: Path) -> Path:
    """The run database inside ``run_dir``."""
    return run_dir / DB_NAME


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit checked out in ``cwd`` (with ``+dirty`` when files changed), or None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def host_description() -> str:
    """Host name, OS, Python and CPU count: enough to tell two machines' latencies apart."""
    return (
        f"{socket.gethostname()} ({platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
    )


def harness_version() -> str:
    """The installed version of the harness."""
    try:
        return metadata.version("evals-harness")
    except metadata.PackageNotFoundError:
        return "0+unknown"
