"""Mixed precision: a model under ``torch.autocast`` computes what it computes in float32, nearly.

``check_autocast`` runs, in eval mode, the deterministic path (encoder outputs, codes, reconstruction, decoder
output for fixed latent points) and a forward with a seeded generator (its z and its loss terms) in float32 and
under autocast, and holds each autocast result to ``|a - b| <= tolerance · max(1, max |float32 result|)``.
It then runs a training step's forward, loss and backward under autocast, as ``genkit train --fast``
does, and requires finite outputs, terms and gradients.

Tolerances: bfloat16 keeps 8 significant bits (rounding of 2^-9 ≈ 0.2 % per operation) and float16
11 bits; a few layers of such rounding, accumulated in float32 as autocast does, stay within 1 % of an
output's scale. The bound is 2 % (``TOLERANCE``), ten times what the built-in recipes show (0.2 %
or less). The seeded draw is compared too: a seed must mean the same latent points under autocast, so a sampler
draws its noise in float32 from the generator and casts it (as the priors and the built-in samplers do); a
draw in bfloat16 is another, coarser stream of numbers.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from genkit.testing._asserts import (
    check_finite_gradients,
    check_loss_terms,
    failures_as_assertions,
    generator,
    max_difference,
    model_name,
    require,
    uniform_images,
)
from genkit.testing.inputs import labels_for

TOLERANCE = 0.02


def _deterministic_path(model: Any, x: torch.Tensor, labels: torch.Tensor | None, z: torch.Tensor,
                        seed: int) -> dict[str, torch.Tensor]:
    cond = model.condition(labels)
    with torch.no_grad():
        out = {}
        if not model.generator_only:  # a generator-only model has nothing to encode
            params = model.encode(x, labels)
            codes = model.sampler.mean(*params.values())
            out = {f"encoder output {name!r}": t for name, t in params.items()}
            out.update({"codes": codes, "reconstruction": model.decoder(codes, *cond)})
        out["decoder output for fixed z"] = model.decoder(z, *cond)
        forward = model(x, labels, generator=generator(seed, x.device))
        out["z of a forward with a seeded generator"] = forward.z
        out.update({f"loss term {name!r} of a forward with a seeded generator": t
                    for name, t in model.loss(x, forward).items()})
    return out


def check_autocast(model: Any, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16,
                   images: torch.Tensor | None = None, *, seed: int = 0, tolerance: float = TOLERANCE) -> None:
    """Autocast to ``dtype`` on ``device`` keeps outputs within ``tolerance`` and everything finite.

    The model is copied (and moved to ``device``); the caller's model is left as it was.
    """
    device = torch.device(device)
    precision = str(dtype).removeprefix("torch.")
    who = f"{model_name(model)} under {precision} autocast on {device.type}"
    model = copy.deepcopy(model).to(device).eval()
    spec = model.spec
    x = (images if images is not None else uniform_images(spec.input_shape, 4, seed)).to(device)
    z = torch.randn(len(x), *spec.latent_shape, generator=generator(seed)).to(device)
    labels = labels_for(spec, len(x))
    labels = labels.to(device) if labels is not None else None
    with failures_as_assertions(who, "the float32 forward"):
        reference = _deterministic_path(model, x, labels, z, seed)
    with failures_as_assertions(who, "the forward"), torch.autocast(device.type, dtype=dtype):
        mixed = _deterministic_path(model, x, labels, z, seed)
    for what, expected in reference.items():
        got = mixed[what]
        require(bool(torch.isfinite(got).all()), who, f"{what} has non-finite values")
        bound = tolerance * max(1.0, float(expected.abs().max()))
        difference = max_difference(got, expected)
        require(difference <= bound, who, f"{what} differs from float32 by {difference:.3g}, more than "
                                          f"{bound:.3g} ({tolerance:g} of max(1, its float32 magnitude))")
    model.train()
    with failures_as_assertions(who, "a training step"):
        with torch.autocast(device.type, dtype=dtype):
            out = model(x, labels, generator=generator(seed, device))
            losses = model.loss(x, out)
        for what, t in [("sampled z", out.z), ("decoder output", out.x_hat), *out.params.items()]:
            require(bool(torch.isfinite(t).all()), who, f"training forward: {what} has non-finite values")
        check_loss_terms(losses, model.loss.terms, f"{who}, training forward")
        losses["loss"].backward()
    check_finite_gradients(model, who, "training backward")
