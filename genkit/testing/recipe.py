"""The recipe contract: the model a recipe builds runs forward, loss, backward and inference, and its
encoder and decoder export to ONNX and compute there what they compute in torch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from genkit.config import build_config
from genkit.errors import GenkitError
from genkit.model import GenerativeModel, build_model
from genkit.registry import Registry
from genkit.testing._asserts import (
    backward,
    check_gradients,
    check_loss_terms,
    check_tensor,
    check_unit_range,
    generator,
    require,
    uniform_images,
)


def resolve_registry(recipe: str | Registry, registry: Registry | str | None) -> tuple[str, Registry]:
    """``(recipe, registry)`` from either argument order; ``None`` is the installed plugins' registry."""
    if isinstance(recipe, Registry):
        recipe, registry = registry, recipe
    if registry is None:
        from genkit.plugins import get_registry

        registry = get_registry()
    return recipe, registry


def build_recipe(recipe: str | Registry, registry: Registry | str | None = None, *,
                 overrides: Sequence[str] = ()) -> GenerativeModel:
    """The model ``genkit train RECIPE --set OVERRIDE...`` would train, freshly initialised."""
    recipe, registry = resolve_registry(recipe, registry)
    try:
        return build_model(build_config(registry, recipe, overrides=overrides), registry)
    except GenkitError as exc:
        raise AssertionError(f"recipe {recipe!r} cannot be built: {exc}") from exc


def check_recipe(recipe: str | Registry, registry: Registry | str | None = None, *, overrides: Sequence[str] = (),
                 batch_size: int = 2, seed: int = 0, images: torch.Tensor | None = None,
                 onnx: bool = True) -> GenerativeModel:
    """Build a recipe's model and run the whole contract through it: forward, loss, backward, inference.

    ``check_recipe("vae")`` uses the installed plugins; ``check_recipe(registry, "vae")`` or
    ``check_recipe("vae", registry)`` a registry of your own. ``images`` (N, C, H, W) in [0, 1] replace
    the seeded uniform ones. With ``onnx`` (the default) the encoder and decoder must also export to
    ONNX and match torch within 1e-5 (``check_onnx_parity``); ``onnx=False`` skips the export, which
    takes seconds, for callers that check it elsewhere. Returns the model.
    """
    recipe, registry = resolve_registry(recipe, registry)
    who = f"recipe {recipe!r}"
    model = build_recipe(recipe, registry, overrides=overrides)
    spec = model.spec
    require(spec.parameter_names == tuple(model.sampler.parameter_names), who,
            "the encoder's outputs must be the sampler's parameter_names")
    x = images[:batch_size].float() if images is not None else uniform_images(spec.input_shape, batch_size, seed)
    batch_size = len(x)
    model.train()
    out = model(x, generator=generator(seed))
    require(list(out.params) == list(spec.parameter_names), who,
            f"encoder outputs {list(out.params)} must be named {list(spec.parameter_names)}")
    for name, t in out.params.items():
        check_tensor(t, (batch_size, spec.z_dim), who, f"encoder output {name!r}")
    check_tensor(out.z, (batch_size, spec.z_dim), who, "sampled z")
    check_tensor(out.x_hat, tuple(x.shape), who, "decoder output")
    check_unit_range(out.x_hat, who, "decoder output")
    losses = model.loss(x, out.x_hat, out.params)
    check_loss_terms(losses, model.loss.terms, who)
    backward(losses["loss"], who, "the total 'loss'")
    check_gradients(model.encoder, f"{who} encoder")
    check_gradients(model.decoder, f"{who} decoder")
    model.zero_grad(set_to_none=True)
    model.eval()
    codes = model.codes(x)
    check_tensor(codes, (batch_size, spec.z_dim), who, "codes (the sampler's mean)")
    require(torch.equal(codes, model.codes(x)), who, "codes must be deterministic in eval mode")
    check_unit_range(model.reconstruct(x), who, "reconstruction")
    with torch.no_grad():
        check_tensor(model.sampler.sample_prior(3, generator=generator(seed)), (3, spec.z_dim), who,
                     "sample_prior(3)")
    generated = model.generate(3, generator=generator(seed))
    check_tensor(generated, (3, *spec.input_shape), who, "generate(3)")
    check_unit_range(generated, who, "generated images")
    if onnx:
        try:
            check_onnx_parity(model, x)
        except AssertionError as exc:
            raise AssertionError(f"{who}: ONNX export parity: {exc}") from exc
    return model


def check_onnx_parity(model: GenerativeModel, images: Any = None, atol: float = 1e-5, **options: Any) -> dict[str, Any]:
    """The model's encoder and decoder export to ONNX and compute what torch computes, within ``atol``.

    Raises ``AssertionError`` naming the component and the largest difference (or why neither of torch's
    exporters could export it). The check itself, and its options, live in ``genkit.onnx.parity``.
    """
    from genkit.onnx.parity import check_onnx_parity as check

    return check(model, images, atol, **options)
