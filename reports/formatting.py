"""Number formatting shared by the HTML, Markdown and JUnit renderers (unknown shows as an em dash)."""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' NA."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like values are never "missing" as a whole
        return False


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits."""
    if is_missing(value):
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.{digits}g}"


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage."""
    return MISSING if is_missing(value) else f"{100 * float(value):.{digits}f}%"


def usd(value: Any) -> str:
    """USD with enough precision for sub-cent task costs."""
    if is_missing(value):
        return MISSING
    v = float(value)
    if v == 0:
        return "$0"
    if abs(v) >= 1:
        return f"${v:,.2f}"
    # Three significant digits in plain decimals: task costs are often below a thousandth of a dollar.
    decimals = max(2, 2 - math.floor(math.log10(abs(v))))
    whole, _, frac = f"{v:.{decimals}f}".partition(".")
    return f"${whole}.{frac.rstrip('0').ljust(2, '0')}"


def usd_bound(value: Any, unknown: Any = 0) -> str:
    """A cost sum that leaves out ``unknown`` tasks of unknown cost: exact when there are none,
    else "≥ $X (N unknown)"; "unknown" when nothing is known. Never "$0" for what nobody reported."""
    n = 0 if is_missing(unknown) else int(unknown)
    if n == 0:
        return usd(value)
    if is_missing(value) or float(value) == 0:
        return f"unknown ({n:,} tasks)"
    return f"≥ {usd(value)} ({n:,} unknown)"


def seconds(value: Any) -> str:
    """A duration: ms below one second."""
    if is_missing(value):
        return MISSING
    v = float(value)
    return f"{v * 1000:.0f} ms" if abs(v) < 1 else f"{v:.2f} s"


def score_ci(mean: Any, low: Any, high: Any) -> str:
    """``0.750 [0.301, 0.954]``."""
    if is_missing(mean):
        return MISSING
    if is_missing(low) or is_missing(high):
        return f"{float(mean):.3f}"
    return f"{float(mean):.3f} [{float(low):.3f}, {float(high):.3f}]"
