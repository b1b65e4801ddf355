"""Interleaved timing: the only fair way to compare on a machine other work shares.

Each contender runs one short window per round, in an order that rotates from round to round, so a
burst of load elsewhere hits every contender about equally. Rates are medians over rounds, and a
comparison is the median of the per-round ratios, never a ratio of medians taken at different times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

# A window returns how many items (images) it processed and, optionally, its own measured seconds
# (the trainer times its loop itself, excluding the per-epoch evaluation).
Window = Callable[[], "int | tuple[int, float]"]


def timed(window: Window) -> tuple[int, float]:
    started = time.perf_counter()
    result = window()
    elapsed = time.perf_counter() - started
    if isinstance(result, tuple):
        return result
    return result, elapsed


def interleave(windows: Mapping[str, Window], rounds: int, warmup: int = 1,
               budget_s: float | None = None) -> dict[str, list[float]]:
    """Items per second of each window, one sample per round; stops early once ``budget_s`` is spent."""
    names = list(windows)
    for _ in range(warmup):
        for name in names:
            timed(windows[name])
    rates: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            items, seconds = timed(windows[name])
            rates[name].append(items / seconds if seconds > 0 else float("nan"))
        if budget_s is not None and r >= 2 and time.perf_counter() - started > budget_s:
            break
    return rates


def summarize(rates: Mapping[str, list[float]], baseline: str | None = None) -> dict[str, dict[str, Any]]:
    """Median rate per contender, its spread, and the median per-round ratio to ``baseline``."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in rates.items():
        row: dict[str, Any] = {"images_per_s": statistics.median(values), "rounds": len(values),
                               "spread": _spread(values)}
        if baseline is not None:
            pairs = [a / b for a, b in zip(values, rates[baseline]) if b > 0]
            row["vs_baseline"] = statistics.median(pairs) if pairs else None
        out[name] = row
    return out


def latencies(call: Callable[[], Any], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median and 99th-percentile wall time of ``call`` in milliseconds."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "p99_ms": percentile(samples, 99)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _spread(values: list[float]) -> float:
    """Interquartile range relative to the median: how much the machine disturbed the measurement."""
    if len(values) < 4:
        return 0.0
    q = statistics.quantiles(values, n=4)
    median = statistics.median(values)
    return (q[2] - q[0]) / median if median else 0.0
