"""Whether a model, a batch or an array fits in this machine's memory, checked before any work.

A size that cannot fit (``--set model.latent_shape=[1000000000000]``, ``--nll-samples`` in the
quintillions) would otherwise end minutes later in the allocator's traceback, or at once in numpy's
"Maximum allowed dimension exceeded". Here the size is worked out without allocating it: a model is
built on torch's ``meta`` device, which records shapes and no data, and a dry forward of one batch
there gives the activations; the total is compared with the memory available now (MemAvailable of
/proc/meminfo, else the free pages ``os.sysconf`` reports; a CUDA device's free memory). One line names
the setting, the size it implies and what is available. The estimate is deliberately rough: it only
has to tell a size that cannot fit from one that may.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from genkit.errors import ConfigError

# Training keeps each weight four times (the weight, its gradient, Adam's two moments); inference once.
TRAINING_COPIES, INFERENCE_COPIES = 4, 1


def available_memory(device: Any = "cpu") -> int | None:
    """Bytes that can be allocated now on ``device``; None where it cannot be told."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):  # no CUDA after all: the device check says so elsewhere
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """``12.5 GiB``; sizes beyond any unit in powers of ten (``1.2e+22 bytes``)."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{float(count):.3g} bytes"


def require_fits(setting: str, needed: int, what: str, device: Any = "cpu",
                 fix: str | Callable[[int], str] = "choose a smaller value") -> None:
    """``ConfigError`` (one line) when ``needed`` bytes, what ``setting`` implies, exceed the memory available.

    ``fix`` says what to do; a callable gets the bytes available (to say what would fit).
    """
    free = available_memory(device)
    if free is None or needed <= free:
        return
    fix = fix(free) if callable(fix) else fix
    place = "GPU memory" if getattr(device, "type", str(device)).startswith("cuda") else "memory"
    raise ConfigError(f"{setting} needs {format_bytes(needed)} ({what}); this machine has {format_bytes(free)} of "
                      f"{place} available: {fix}")


def model_footprint(config, batch: int, training: bool, registry=None) -> tuple[int, int] | None:
    """(parameters, bytes) of ``config``'s model: its weights (kept 4x when training) and one batch's
    activations, measured on the meta device without allocating either; None for a model that cannot
    be built there (a component that reads values while it is built)."""
    import torch

    from genkit.contract.model import build_model
    from genkit.errors import GenkitError

    try:
        with torch.device("meta"):
            model = build_model(config, registry)
    except GenkitError:  # settings the model refuses: the same line the real build would give
        raise
    except Exception:
        return None
    parameters = sum(p.numel() for p in model.parameters())
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    weights += sum(b.numel() * b.element_size() for b in model.buffers())
    activations = _activations(model, config, batch)
    return parameters, weights * (TRAINING_COPIES if training else INFERENCE_COPIES) + activations


def _activations(model, config, batch: int) -> int:
    """Bytes of every module's output for one batch: what a forward keeps for the backward pass."""
    import torch

    from genkit.contract.model import cycle_labels

    total = [0]

    def record(module, args, output):
        for value in (output if isinstance(output, (tuple, list)) else (output,)):
            if isinstance(value, torch.Tensor):
                total[0] += value.numel() * value.element_size()

    handles = [m.register_forward_hook(record) for m in model.modules()]
    try:
        with torch.device("meta"), torch.no_grad():
            x = torch.empty(batch, *config.model.input_shape)
            labels = cycle_labels(batch, config.model.classes, device="meta")
            model.loss(x, model(x, labels))
    except Exception:  # a component whose forward needs real values: the weights alone are still checked
        pass
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def changed_settings(config, registry=None) -> list[str]:
    """``section.key=value`` for each model-shaping setting that differs from the recipe's defaults."""
    from genkit.config import build_config
    from genkit.contract.host import get_registry

    try:
        default = build_config(registry or get_registry(), config.recipe, None, []).to_dict()
    except Exception:  # the recipe's defaults themselves do not resolve: name nothing in particular
        return []
    changed = []
    for section, values in config.to_dict().items():
        if section in ("recipe", "data", "stages") or not isinstance(values, dict):
            continue
        for key, value in values.items():
            if default.get(section, {}).get(key) != value and (section != "training" or key == "batch_size"):
                changed.append(f"{section}.{key}={_compact(value)}")
    shaping = [text for text in changed if not text.startswith("training.")]
    return shaping or changed  # the batch size only when no setting of the model itself changed


def _compact(value: Any) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def check_model_fits(config, batch: int, training: bool, device: Any = "cpu", registry=None,
                     say: Callable[[], str] | None = None) -> None:
    """``ConfigError`` when ``config``'s model and a batch of ``batch`` cannot fit on ``device``."""
    free = available_memory(device)
    if free is None:
        return
    footprint = model_footprint(config, batch, training, registry)
    if footprint is None or footprint[1] <= free:
        return
    parameters, needed = footprint
    changed = changed_settings(config, registry)
    setting = ", ".join(changed) if changed else f"recipe {config.recipe}"
    purpose = "to train" if training else "to run"
    require_fits(setting, needed, f"a model of {parameters:,} parameters {purpose} on batches of {batch}", device,
                 "choose smaller sizes (`genkit summary RECIPE --set ...` shows a model's parameters)")
