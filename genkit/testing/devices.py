"""Moving a model: ``.to(device)`` and ``.double()`` / ``.float()`` carry every tensor it computes with.

A tensor kept as a plain attribute instead of a registered buffer (a prior's mean, a mask) stays
behind when the model moves: on another device the model fails or mixes devices, and in another dtype
it computes in the old one. Both checks compare seeded outputs (encoder outputs, reconstruction,
``generate`` and the eval-mode forward's draw with a seeded generator) before and after the move.

- ``check_dtype_round_trip`` (any machine): in float64 every floating parameter and buffer is float64,
  the outputs are float64 and within 1e-5 of float32's (float32 keeps 7 significant digits; its
  rounding through a few layers stays near 1e-6 of the output's scale); back in float32 the weights
  and the outputs are bitwise what they were (float32 -> float64 -> float32 is exact).
- ``check_device_move``: on the device every parameter and buffer is there, outputs land there and,
  with the same CPU generator (samplers draw on the generator's device), are within ``atol`` of the
  CPU's; two equally seeded generators on the device give the same outputs (within ``atol``); back
  on the CPU weights and outputs are bitwise the CPU's. On CUDA, TF32 is switched off for the check
  and ``atol`` is 1e-4 of the output's scale: cuDNN's float32 convolutions sum in another order than
  oneDNN's (differences near 1e-6).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch

from genkit.testing._asserts import (
    failures_as_assertions,
    generator,
    model_name,
    require,
    require_close,
    require_equal_states,
    uniform_images,
)
from genkit.testing.inputs import labels_for


def seeded_outputs(model: Any, x: torch.Tensor, gen: Any, seed: int = 0) -> dict[str, torch.Tensor]:
    """Outputs of an eval-mode model: encoder outputs, reconstruction, generate(4) and the forward's draw and extras.

    ``gen`` makes a fresh generator from a seed, so each random call starts from the same state. A conditional
    model gets the labels 0, 1, ... (modulo its classes).
    """
    labels = labels_for(model.spec, len(x))
    labels = labels.to(x.device) if labels is not None else None
    generated = labels_for(model.spec, 4)
    generated = generated.to(x.device) if generated is not None else None
    with torch.no_grad():
        out = {}
        if not model.generator_only:  # a generator-only model has nothing to encode
            out = {f"encoder output {name!r}": t for name, t in model.encode(x, labels).items()}
            out["reconstruction"] = model.reconstruct(x, labels)
        out["generate(4) with a seeded generator"] = model.generate(4, generator=gen(seed), labels=generated)
        forward = model(x, labels, generator=gen(seed))
        out["forward's sampled z with a seeded generator"] = forward.z
        out["forward's decoder output with a seeded generator"] = forward.x_hat
        out.update({f"forward's extra {name!r} with a seeded generator": t for name, t in forward.extras.items()})
    return out


def _require_all(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], who: str, what: str,
                 atol: float, scaled: bool = True) -> None:
    for key, want in expected.items():
        bound = atol * max(1.0, float(want.abs().max())) if scaled and atol else atol
        require_close(actual[key], want, who, f"{key} {what}", atol=bound)


def _placement(model: Any, who: str, device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if device is not None:
            require(t.device.type == device.type, who, f"{name} is on {t.device} after .to({device})")
        if dtype is not None and t.is_floating_point():
            require(t.dtype == dtype, who, f"{name} is {t.dtype} after converting the model to {dtype}")


def check_dtype_round_trip(model: Any, images: torch.Tensor | None = None, *, seed: int = 0,
                           atol: float = 1e-5) -> None:
    """float32 -> float64 -> float32 on the CPU (see the module docstring). The caller's model is untouched."""
    who = model_name(model)
    model = copy.deepcopy(model).cpu().float().eval()
    x = images if images is not None else uniform_images(model.spec.input_shape, 3, seed)
    with failures_as_assertions(who, "the float32 forward"):
        before = seeded_outputs(model, x, generator, seed)
    wide = copy.deepcopy(model).double()
    _placement(wide, who, dtype=torch.float64)
    with failures_as_assertions(who, "the forward in float64 (a tensor that is not a buffer stays float32?)"):
        doubled = seeded_outputs(wide, x.double(), generator, seed)
    for key, t in doubled.items():
        require(t.dtype == torch.float64 or not before[key].is_floating_point(), who,
                f"{key} is {t.dtype} for a float64 model")
    # torch draws float64 noise from other bits of the generator than float32 noise: only the
    # deterministic outputs are compared across dtypes.
    deterministic = {k: v for k, v in before.items() if "seeded" not in k}
    _require_all(doubled, deterministic, who, "in float64 against float32", atol)
    back = wide.float()
    require_equal_states(back, model, who, "after float32 -> float64 -> float32")
    with failures_as_assertions(who, "the forward back in float32"):
        _require_all(seeded_outputs(back, x, generator, seed), before, who,
                     "after float32 -> float64 -> float32", 0.0)


@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def check_device_move(model: Any, device: str | torch.device, images: torch.Tensor | None = None, *,
                      seed: int = 0, atol: float | None = None) -> None:
    """CPU -> ``device`` -> CPU with seeded generators (see the module docstring). The caller's model is untouched."""
    device = torch.device(device)
    who = f"{model_name(model)} moved to {device}"
    atol = (0.0 if device.type == "cpu" else 1e-4) if atol is None else atol
    model = copy.deepcopy(model).cpu().eval()
    x = images if images is not None else uniform_images(model.spec.input_shape, 3, seed)
    with _no_tf32() if device.type == "cuda" else contextlib.nullcontext():
        with failures_as_assertions(who, "the forward on the CPU"):
            before = seeded_outputs(model, x, generator, seed)
        moved = copy.deepcopy(model).to(device)
        _placement(moved, who, device=device)
        with failures_as_assertions(who, "the forward with a CPU generator"):
            there = seeded_outputs(moved, x.to(device), generator, seed)
        for key, t in there.items():
            require(t.device.type == device.type, who, f"{key} is on {t.device}, not on {device}")
        _require_all(there, before, who, f"on {device} with a CPU generator against the CPU", atol)
        on_device = lambda s: generator(s, device)  # noqa: E731 - a generator factory on the device
        with failures_as_assertions(who, f"the forward with generators on {device}"):
            first = seeded_outputs(moved, x.to(device), on_device, seed)
            second = seeded_outputs(moved, x.to(device), on_device, seed)
        # cuDNN's transposed convolutions may add in a varying order: the same bound as against the CPU
        _require_all(second, first, who, f"with equally seeded generators on {device}", atol)
        back = moved.cpu()
        require_equal_states(back, model, who, f"after the CPU -> {device} -> CPU round trip")
        with failures_as_assertions(who, "the forward back on the CPU"):
            _require_all(seeded_outputs(back, x, generator, seed), before, who,
                         f"after the CPU -> {device} -> CPU round trip", 0.0)
