"""A description of the machine a result was measured on, stored with every result file."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The instruction-set flags that decide which kernels are fast (AVX-512, bf16, AMX)."""
    interesting = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in interesting if f in flags]
    except OSError:
        pass
    return []


def describe(threads: int) -> dict[str, Any]:
    import torch

    try:
        import onnxruntime

        ort = onnxruntime.__version__
        ort_providers = onnxruntime.get_available_providers()
    except ImportError:
        ort, ort_providers = None, []
    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = {"name": props.name, "memory_gib": round(props.total_memory / 2 ** 30, 1),
               "count": torch.cuda.device_count(), "cuda": torch.version.cuda}
    from genkit import __version__

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
        "threads_used": threads, "memory_gib": _memory_gib(), "gpu": gpu,
        "python": platform.python_version(), "platform": platform.platform(),
        "torch": torch.__version__, "onnxruntime": ort, "onnxruntime_providers": ort_providers,
        "genkit": __version__, "load_average": _load(),
    }


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    return None


def _load() -> list[float] | None:
    """Other work on the machine while measuring: the reason to trust ratios over absolute rates."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
