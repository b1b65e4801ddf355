"""Timing onnxruntime and torch in one process without one slowing the other down.

onnxruntime's intra-op threads spin for 10-50 ms after every run unless the session option
``session.intra_op.allow_spinning`` is "0". Interleaved with torch in one process, that spinning
steals the cores from the torch call that follows: measured on two cores, torch channels-last ran the
``vae`` decoder at 3,800 images/s right after a spinning onnxruntime run and 7,000-8,300 after a
non-spinning one. Every comparison with torch therefore uses sessions with spinning off (the runtime's
default, ``genkit.runtime.sessions.SPINNING``).

Spinning on is still measured, since it is a setting users may choose: each such window ends with
an untimed pause long enough for the threads to park (``SETTLE_S``), so that the spinning is charged
to nobody but the session itself; ``after_spinning`` measures what it costs the caller's next call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SETTLE_S = 0.1  # onnxruntime's threads stop spinning well within this after a run


def settled_window(call: Callable[[], object], batch: int, repeats: int, settle: bool = True):
    """A timing window of ``repeats`` calls that measures its own seconds and then lets spinning threads park."""
    def window() -> tuple[int, float]:
        started = time.perf_counter()
        for _ in range(max(1, repeats)):
            call()
        seconds = time.perf_counter() - started
        if settle:
            time.sleep(SETTLE_S)
        return batch * max(1, repeats), seconds

    return window


def after_spinning(run: Callable[[], object], follow: Callable[[], object], batch: int, rounds: int) -> float:
    """Images/s of ``follow`` when it starts right after ``run`` (median of ``rounds``): what ``run``'s
    idle threads leave of the CPU to the next call."""
    import statistics

    rates = []
    for _ in range(max(3, rounds)):
        run()
        started = time.perf_counter()
        follow()
        rates.append(batch / (time.perf_counter() - started))
        time.sleep(SETTLE_S)
    return statistics.median(rates)


def settled_latencies(call: Callable[[], object], repeats: int) -> dict[str, float]:
    """Batch-1 latency (median, p99) of ``call`` after the previous contender's threads have parked."""
    from .timing import latencies

    time.sleep(SETTLE_S)
    result = latencies(call, repeats)
    time.sleep(SETTLE_S)
    return result
