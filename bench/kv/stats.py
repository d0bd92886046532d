"""Percentiles, medians and spread, as the report prints them."""
from __future__ import annotations

import math
import statistics


def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]); NaN when there are no values."""
    s = sorted(values)
    if not s:
        return math.nan
    return s[max(0, math.ceil(q * len(s)) - 1)]


def median(values) -> float:
    return statistics.median(values) if values else math.nan


def spread(values) -> str:
    """min-max, the spread the report shows beside a median."""
    if not values:
        return "-"
    return f"{min(values):.0f}-{max(values):.0f}"


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan


def ratio_spread(a, b) -> str:
    """The range a ratio of two medians may take given each side's runs: min(a)/max(b)-max(a)/min(b)."""
    if not a or not b or min(b) <= 0:
        return "-"
    return f"{min(a) / max(b):.2f}-{max(a) / min(b):.2f}x"
