"""Where a run trains and in which precision: the device choice and autocast, checked before any work."""

from __future__ import annotations

import contextlib

import torch

from genkit.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device is 'cuda' but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("training.precision 'fp16' needs a CUDA device; on CPU use 'bf16' or 'fp32'")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
