"""Peak memory of a command and everything it starts (DataLoader workers included).

Two measures: the kernel's maximum resident set of the process tree's largest member (``wait4``), and
the peak over time of the tree's summed proportional set size (PSS: pages shared between a process
and its forked workers are split between them instead of counted once per process), sampled from
``/proc``. Where ``/proc`` is missing only the first is reported.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_kb(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _pss_kb(pid)
        stack += _children(pid)
    return total


def measure(argv: list[str], env: dict[str, str] | None = None, interval: float = 0.1) -> dict[str, float]:
    """Run ``argv`` to completion; its wall time, peak tree PSS (MiB) and largest max RSS (MiB)."""
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty child must never block on a full pipe
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss_kb(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4 (not Popen.wait) returns this child's own resource usage, not that of every child so far.
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    log.seek(0)
    stderr = log.read().decode(errors="replace")
    log.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed ({process.returncode}): {stderr.strip()[-800:]}")
    return {"seconds": time.perf_counter() - started, "peak_tree_pss_mib": peak[0] / 1024 if peak[0] else None,
            "max_rss_mib": usage.ru_maxrss / 1024}
