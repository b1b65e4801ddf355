"""The machine's measured matrix-multiply peak: the ceiling a training step's FLOP rate is judged by.

The best rate over a few square sizes of ``torch.mm`` with the benchmark's thread count, per dtype;
on a CPU with AVX512_BF16 or AMX the bf16 peak is the one a bf16 autocast step can approach.
"""

from __future__ import annotations

import time

import torch

SIZES = (512, 1024, 2048)


def matmul_peak(dtype: torch.dtype, device: str = "cpu", sizes: tuple[int, ...] = SIZES,
                min_seconds: float = 0.3) -> dict[str, float]:
    """Best FLOP/s of ``torch.mm`` over ``sizes`` (each timed for at least ``min_seconds``)."""
    best = {"flops_per_s": 0.0, "size": 0}
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        torch.mm(a, b)  # warm-up: the kernel choice and the first-touch of the output
        _sync(device)
        calls, started = 0, time.perf_counter()
        while True:
            torch.mm(a, b)
            calls += 1
            _sync(device)
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds and calls >= 3:
                break
        rate = 2 * n ** 3 * calls / elapsed
        if rate > best["flops_per_s"]:
            best = {"flops_per_s": rate, "size": n}
    return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
