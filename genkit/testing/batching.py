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

from genkit.contract.components import ModelSpec
from genkit.testing._asserts import (
    failures_as_assertions,
    generator,
    model_name,
    name_of,
    require_close,
    uniform_images,
)
from genkit.testing.inputs import DEFAULT_SPEC, build_component, condition, labels_for, random_params

ATOL = RTOL = 1e-5
BATCH = 5


def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


def _rows(inputs: tuple[torch.Tensor | None, ...], i: int) -> tuple[torch.Tensor | None, ...]:
    return tuple(t[i:i + 1] if t is not None else None for t in inputs)


def check_rows_independent(call: Callable[..., Any], inputs: torch.Tensor | tuple[torch.Tensor | None, ...], who: str,
                           what: str, names: tuple[str, ...] = (), atol: float = ATOL, rtol: float = RTOL) -> None:
    """Each output row of ``call(*inputs)`` equals ``call`` of that row of every input alone, within the tolerance.

    ``inputs`` is one tensor or a tuple of them (images and labels, say; None passes through).
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    n = len(inputs[0])
    with torch.no_grad(), failures_as_assertions(who, what):
        batch = _as_tuple(call(*inputs))
        alone = [_as_tuple(call(*_rows(inputs, i))) for i in range(n)]
    for j, whole in enumerate(batch):
        label = f"{what} {names[j]!r}" if j < len(names) else what
        for i, single in enumerate(alone):
            require_close(whole[i:i + 1], single[j], who,
                          f"{label}: row {i} of a batch of {n} against the same input alone "
                          f"(eval mode; a sample must not depend on the rest of its batch)", atol=atol, rtol=rtol)


def check_batch_independence(model: Any, images: torch.Tensor | None = None, *, seed: int = 0,
                             atol: float = ATOL, rtol: float = RTOL) -> None:
    """A ``GenerativeModel``'s encoder outputs, codes, reconstruction and decoder output, row by row."""
    spec = model.spec
    who = model_name(model)
    x = images if images is not None else uniform_images(spec.input_shape, BATCH, seed)
    labels = labels_for(spec, len(x))
    z = torch.randn(len(x), *spec.latent_shape, generator=generator(seed))
    was_training = model.training
    model.eval()
    try:
        if not model.generator_only:  # a generator-only model is checked on its decoder alone
            check_rows_independent(model.encoder, (x, *condition(spec, labels)), who, "encoder output",
                                   tuple(spec.parameter_names), atol, rtol)
            check_rows_independent(model.codes, (x, labels), who, "codes (the sampler's mean)", atol=atol,
                                   rtol=rtol)
            check_rows_independent(model.reconstruct, (x, labels), who, "reconstruction", atol=atol, rtol=rtol)
        check_rows_independent(model.decoder, (z, *condition(spec, labels)), who, "decoder output", atol=atol,
                               rtol=rtol)
    finally:
        model.train(was_training)


def check_component_batch_independence(cls: type, spec: ModelSpec | None = None,
                                       settings: dict[str, Any] | None = None, *, seed: int = 0,
                                       params: Any = None) -> None:
    """An encoder's outputs, a decoder's images or a sampler's mean, row by row, in eval mode.

    ``params`` (a sampler's: one row per encoder output) give the encoder outputs' shapes, as in ``check_sampler``.
    """
    kind = getattr(cls, "kind", "")
    who = name_of(cls)
    if kind == "encoder":
        spec = dataclasses.replace(spec or DEFAULT_SPEC, feature_shape=None)
        module = build_component(cls, kind, spec, settings).eval()
        x = uniform_images(spec.input_shape, BATCH, seed)
        check_rows_independent(module, (x, *condition(spec, labels_for(spec, BATCH))), who, "output",
                               tuple(spec.parameter_names))
    elif kind == "decoder":
        spec = spec or DEFAULT_SPEC
        module = build_component(cls, kind, spec, settings).eval()
        z = torch.randn(BATCH, *spec.latent_shape, generator=generator(seed))
        check_rows_independent(module, (z, *condition(spec, labels_for(spec, BATCH))), who, "output")
    elif kind == "sampler":
        names = tuple(cls.parameter_names)
        spec = dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=names)
        module = build_component(cls, kind, spec, settings).eval()
        check_rows_independent(module.mean, tuple(random_params(spec, BATCH, seed, params)), who, "mean(*params)")
    else:
        raise TypeError(f"{who}: batch independence applies to encoders, decoders and samplers, not to {kind!r}")
