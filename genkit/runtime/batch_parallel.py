"""Large CPU batches split across single-threaded sessions that run side by side.

onnxruntime parallelises inside each operator. Its ``ConvTranspose`` kernel loops over the images of
a batch and hands each image's small matrix product to the thread pool, so every image pays a
fork-join of the intra-op threads, and with spinning off (``sessions.SPINNING``) a wake-up. On the
``vae`` decoder at batch 256 on two cores (benchmarks/results/20261202-015500-full-inference.json)
one session with two intra-op threads ran 6,774 images/s with spinning off and 10,331 with it on;
cut in two halves that run at the same time on two single-threaded sessions (no synchronisation
inside the graph at all), 12,560. The encoder, made of ordinary convolutions, gains nothing: between
0.87x and 1.06x of one session across runs.

So on the CPU a batch of at least ``MIN_BATCH`` rows is cut into one shard per core, each run by its
own single-threaded session from a thread pool (onnxruntime releases the GIL while it runs). Smaller
batches, where latency matters more than throughput, keep the one session with intra-op threads. The
shard sessions are created on the first large batch, so a command that never sees one does not pay
for them. CUDA sessions are never sharded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

PARALLEL_MODES = ("auto", "ops")  # auto: shard large CPU batches; ops: intra-op threads only
MIN_BATCH = 64


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class BatchParallelSession:
    """A ``GraphSession`` (``main``) whose large CPU batches run as shards; everything else is ``main``'s."""

    def __init__(self, make: Callable[[int], Any], threads: int = 0, parallel: str = "auto",
                 min_batch: int = MIN_BATCH):
        """``make(threads)`` opens one session of the graph with that many intra-op threads."""
        if parallel not in PARALLEL_MODES:
            from genkit.errors import GenkitError

            raise GenkitError(f"unknown parallel mode {parallel!r}; choose one of {', '.join(PARALLEL_MODES)}")
        self.main = make(threads)
        self._make = make
        self.workers = 0 if parallel == "ops" or self.main.on_cuda else (threads or cpu_count())
        self.min_batch = max(min_batch, 2)
        self._shards: list[Any] = []
        self._pool: ThreadPoolExecutor | None = None

    def __getattr__(self, name: str) -> Any:
        # only called for what this class does not define: the main session answers
        return getattr(self.__dict__["main"], name)

    def run(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        batch = len(next(iter(feeds.values())))
        if self.workers < 2 or batch < self.min_batch or self.main.uses_binding(batch):
            return self.main.run(feeds)
        shards = self._open_shards()
        edges = np.linspace(0, batch, len(shards) + 1).round().astype(int)
        futures = [self._pool.submit(session.run, {k: v[a:b] for k, v in feeds.items()})
                   for session, a, b in zip(shards, edges[:-1], edges[1:])]
        parts = [future.result() for future in futures]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _open_shards(self) -> list[Any]:
        if not self._shards:
            self._shards = [self._make(1) for _ in range(self.workers)]
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="genkit-shard")
        return self._shards
