"""Peak memory of a command and everything it starts (DataLoader workers included), read from ``/proc``.

Two measures, sampled while the command runs:

- the main process's peak resident set (``VmHWM``): exact, since the kernel keeps the high-water mark
  itself. (``wait4``'s ``ru_maxrss`` is not used: it survives ``exec``, so a child started by a large
  benchmark process reports at least the parent's size.)
- the peak of the whole tree's summed proportional set size (PSS: pages shared between a process and
  its forked workers are split between them instead of counted once per process); sampled, so a
  spike shorter than the interval can be missed.
"""

from __future__ import annotations

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


def _field_kb(path: str, name: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_kb(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _field_kb(f"/proc/{pid}/smaps_rollup", "Pss:")
        stack += _children(pid)
    return total


def measure(argv: list[str], env: dict[str, str] | None = None, interval: float = 0.05) -> dict[str, float]:
    """Run ``argv`` to completion; its wall time, main-process peak RSS and peak tree PSS, in MiB."""
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty child must never block on a full pipe
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
    peaks = {"pss": 0, "hwm": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks["pss"] = max(peaks["pss"], tree_pss_kb(process.pid))
            peaks["hwm"] = max(peaks["hwm"], _field_kb(f"/proc/{process.pid}/status", "VmHWM:"))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.wait()
    done.set()
    sampler.join()
    log.seek(0)
    stderr = log.read().decode(errors="replace")
    log.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed ({process.returncode}): {stderr.strip()[-800:]}")
    return {"seconds": time.perf_counter() - started, "main_peak_rss_mib": peaks["hwm"] / 1024 or None,
            "peak_tree_pss_mib": peaks["pss"] / 1024 or None}
