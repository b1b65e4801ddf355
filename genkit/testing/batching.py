"""Batch independence: in eval mode a sample's outputs do not depend on the rest of its batch.

Row i of a batch of 5 is compared with the same input alone (a batch of 1): the encoder's outputs, the
codes, the reconstruction and the decoder's output for a fixed latent point. A layer that mixes rows
at inference (batch statistics in eval mode, a mean over the batch) fails; so does one that changes
with the batch size.

Tolerance: ``|a - b| <= 1e-5 + 1e-5·|b|``. Convolutions and matrix products pick their blocking (and
so their summation order) by batch size, which changes float32 results by a few units in the last
place: up to 2e-7 on the built-in recipes, fifty times below the bound. Mixing rows moves outputs by
the size of the differences between images, orders of magnitude above it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from genkit.components import ModelSpec
from genkit.testing._asserts import (
    failures_as_assertions,
    generator,
    model_name,
    name_of,
    require_close,
    uniform_images,
)
from genkit.testing.components import DEFAULT_SPEC, build_component

ATOL = RTOL = 1e-5
BATCH = 5


def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


def check_rows_independent(call: Callable[[torch.Tensor], Any], inputs: torch.Tensor, who: str, what: str,
                           names: tuple[str, ...] = (), atol: float = ATOL, rtol: float = RTOL) -> None:
    """Each output row of ``call(inputs)`` equals ``call`` of that input row alone, within the tolerance."""
    with torch.no_grad(), failures_as_assertions(who, what):
        batch = _as_tuple(call(inputs))
        alone = [_as_tuple(call(inputs[i:i + 1])) for i in range(len(inputs))]
    for j, whole in enumerate(batch):
        label = f"{what} {names[j]!r}" if j < len(names) else what
        for i, single in enumerate(alone):
            require_close(whole[i:i + 1], single[j], who,
                          f"{label}: row {i} of a batch of {len(inputs)} against the same input alone "
                          f"(eval mode; a sample must not depend on the rest of its batch)", atol=atol, rtol=rtol)


def check_batch_independence(model: Any, images: torch.Tensor | None = None, *, seed: int = 0,
                             atol: float = ATOL, rtol: float = RTOL) -> None:
    """A ``GenerativeModel``'s encoder outputs, codes, reconstruction and decoder output, row by row."""
    spec = model.spec
    who = model_name(model)
    x = images if images is not None else uniform_images(spec.input_shape, BATCH, seed)
    z = torch.randn(len(x), spec.z_dim, generator=generator(seed))
    was_training = model.training
    model.eval()
    try:
        check_rows_independent(model.encoder, x, who, "encoder output", tuple(spec.parameter_names), atol, rtol)
        check_rows_independent(model.codes, x, who, "codes (the sampler's mean)", atol=atol, rtol=rtol)
        check_rows_independent(model.reconstruct, x, who, "reconstruction", atol=atol, rtol=rtol)
        check_rows_independent(model.decoder, z, who, "decoder output", atol=atol, rtol=rtol)
    finally:
        model.train(was_training)


def check_component_batch_independence(cls: type, spec: ModelSpec | None = None,
                                       settings: dict[str, Any] | None = None, *, seed: int = 0) -> None:
    """An encoder's outputs, a decoder's images or a sampler's mean, row by row, in eval mode."""
    kind = getattr(cls, "kind", "")
    who = name_of(cls)
    gen = generator(seed)
    if kind == "encoder":
        spec = dataclasses.replace(spec or DEFAULT_SPEC, feature_shape=None)
        module = build_component(cls, kind, spec, settings).eval()
        check_rows_independent(module, uniform_images(spec.input_shape, BATCH, seed), who, "output",
                               tuple(spec.parameter_names))
    elif kind == "decoder":
        module = build_component(cls, kind, spec or DEFAULT_SPEC, settings).eval()
        check_rows_independent(module, torch.randn(BATCH, module.spec.z_dim, generator=gen), who, "output")
    elif kind == "sampler":
        names = tuple(cls.parameter_names)
        module = build_component(cls, kind, dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=names),
                                 settings).eval()
        params = torch.randn(len(names), BATCH, module.spec.z_dim, generator=gen)
        check_rows_independent(lambda rows: module.mean(*rows.transpose(0, 1)), params.transpose(0, 1), who,
                               "mean(*params)")
    else:
        raise TypeError(f"{who}: batch independence applies to encoders, decoders and samplers, not to {kind!r}")

