"""The component contracts: one ``check_*`` function per kind, each building the class the way
``genkit.contract.model.build_model`` does (settings validated by the config layer, keyword arguments only) and
exercising it: output shapes and dtypes, gradients to every parameter, determinism in eval mode, and
the kind's own rules (images in [0, 1], seeded draws and the prior, named loss terms).

A spec with ``classes`` K > 0 makes the component conditional: the encoder is called as ``encoder(x, labels)``
and the decoder as ``decoder(z, labels)`` with int64 labels in [0, K), and the decoder's images must depend on
the labels (a conditional decoder that ignores them draws every class alike).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from genkit.contract.components import ModelSpec
from genkit.testing._asserts import (
    backward,
    check_eval_determinism,
    check_gradients,
    check_tensor,
    check_unit_range,
    failures_as_assertions,
    generator,
    name_of,
    require,
    uniform_images,
)
from genkit.testing.inputs import DEFAULT_SPEC, build_component, condition, labels_for, parameter_shapes
from genkit.testing.losses import check_loss
from genkit.testing.sampler import check_sampler

__all__ = ["COMPONENT_CHECKS", "DEFAULT_SPEC", "build_component", "check_decoder", "check_encoder", "check_loss",
           "check_sampler"]


def check_encoder(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 2, seed: int = 0, *, params: Sequence[torch.Tensor] | None = None):
    """One float tensor per ``spec.parameter_names``, each (N, *latent_shape) (or shaped like the rows of
    ``params``, for a sampler whose parameters are not latent points); gradients; determinism."""
    who = name_of(cls)
    spec = dataclasses.replace(spec or DEFAULT_SPEC, feature_shape=None)  # unknown until the encoder exists
    encoder = build_component(cls, "encoder", spec, settings)
    shape = encoder.feature_shape
    require(isinstance(shape, (tuple, list)) and all(isinstance(d, int) and d > 0 for d in shape), who,
            f"feature_shape must be a tuple of positive ints; got {shape!r}")
    x = uniform_images(spec.input_shape, batch_size, seed)
    cond = condition(spec, labels_for(spec, batch_size))
    encoder.train()
    with failures_as_assertions(who, f"forward(x{', labels' if cond else ''})"):
        out = encoder(x, *cond)
    names = spec.parameter_names
    require(isinstance(out, tuple) and len(out) == len(names), who,
            f"forward must return a tuple of {len(names)} tensors {names}; got {type(out).__name__}"
            f"{f' of {len(out)}' if isinstance(out, tuple) else ''}")
    for name, t, row in zip(names, out, parameter_shapes(spec, params)):
        check_tensor(t, (batch_size, *row), who, f"output {name!r}")
    backward(sum(t.sum() for t in out), who, "forward")
    check_gradients(encoder, who)
    check_eval_determinism(encoder, lambda: encoder(x, *cond), who, "forward")
    return encoder


def check_decoder(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 2, seed: int = 0):
    """Output (N, C, H, W) float32 in [0, 1] even for far-out latent points; gradients; determinism; and for a
    conditional spec, images that depend on the labels."""
    who = name_of(cls)
    spec = spec or DEFAULT_SPEC
    if spec.feature_shape is None:
        raise ValueError("check_decoder needs spec.feature_shape (the encoder's pre-flatten shape)")
    decoder = build_component(cls, "decoder", spec, settings)
    z = torch.randn(batch_size, *spec.latent_shape, generator=generator(seed))
    cond = condition(spec, labels_for(spec, batch_size))
    decoder.train()
    with failures_as_assertions(who, f"forward(z{', labels' if cond else ''})"):
        out = decoder(z, *cond)
    check_tensor(out, (batch_size, *spec.input_shape), who, "output")
    check_unit_range(out, who, "output")
    backward(out.sum(), who, "forward")
    check_gradients(decoder, who)
    check_eval_determinism(decoder, lambda: decoder(z, *cond), who, "forward")
    with torch.no_grad():
        check_unit_range(decoder(z * 100.0, *cond), who, "output for latent points far from the prior")
        if spec.classes > 1:
            others = condition(spec, labels_for(spec, batch_size, offset=1))
            require(not torch.equal(decoder(z, *cond), decoder(z, *others)), who,
                    "a conditional decoder's output must depend on the labels; the same z with other labels gives "
                    "the same images (the model would generate every class alike)")
    return decoder


COMPONENT_CHECKS = {"encoder": check_encoder, "sampler": check_sampler, "decoder": check_decoder, "loss": check_loss}
