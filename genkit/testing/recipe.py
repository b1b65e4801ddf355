"""The recipe contract: the model a recipe builds runs forward, loss, backward and inference, every later
training stage and every player trains the modules it names (a player's step nothing else), its prior can be
exported, and its encoder and decoder export to ONNX and compute there what they compute in torch. A
conditional recipe gets labels and must generate images that depend on them; a generator-only recipe (no
encoder) is checked on what it generates, and must refuse to encode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from genkit.config import build_config
from genkit.contract.model import GenerativeModel, build_model
from genkit.contract.registry import Registry
from genkit.errors import GenkitError
from genkit.testing._asserts import (
    backward,
    check_gradients,
    check_loss_terms,
    check_tensor,
    check_unit_range,
    failures_as_assertions,
    generator,
    require,
    uniform_images,
)
from genkit.testing.inputs import check_extras, check_latent_rows, labels_for
from genkit.testing.priors import check_exportable_sampler


def resolve_registry(recipe: str | Registry, registry: Registry | str | None) -> tuple[str, Registry]:
    """``(recipe, registry)`` from either argument order; ``None`` is the installed plugins' registry."""
    if isinstance(recipe, Registry):
        recipe, registry = registry, recipe
    if registry is None:
        from genkit.contract.host import get_registry

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
    if not model.generator_only:
        require(spec.parameter_names == tuple(model.sampler.parameter_names), who,
                "the encoder's outputs must be the sampler's parameter_names")
    x = images[:batch_size].float() if images is not None else uniform_images(spec.input_shape, batch_size, seed)
    n = len(x)
    labels = labels_for(spec, n)
    model.train()
    with failures_as_assertions(who, "the training forward"):
        out = model(x, labels, generator=generator(seed))
    _check_forward(model, out, n, who)
    with failures_as_assertions(who, "the loss"):
        losses = model.loss(x, out)
    check_loss_terms(losses, model.loss.terms, who)
    backward(losses["loss"], who, "the total 'loss'")
    if not model.generator_only:
        check_gradients(model.encoder, f"{who} encoder")
    if model.loss.needs_reconstruction:
        check_gradients(model.decoder, f"{who} decoder")
    model.zero_grad(set_to_none=True)
    for stage in model.config.stages:
        _check_stage(model, stage, x, labels, seed, who)
    for player in model.config.players:
        _check_player(model, player, x, labels, seed, who)
    if model.config.players:
        from genkit.testing.players import check_players

        check_players(model, x, labels)
    model.eval()
    _check_inference(model, x, labels, seed, who)
    if onnx:
        try:
            check_onnx_parity(model, x)
        except AssertionError as exc:
            raise AssertionError(f"{who}: ONNX export parity: {exc}") from exc
    return model


def _check_forward(model: GenerativeModel, out: Any, n: int, who: str) -> None:
    spec = model.spec
    if model.generator_only:  # z is a prior draw per image, and the decoder's images are all there is to check
        check_latent_rows(out.z, spec, n, who, "the prior draw z")
        check_tensor(out.x_hat, (len(out.z), *spec.input_shape), who, "decoder output")
        check_unit_range(out.x_hat, who, "decoder output")
        return
    require(list(out.params) == list(spec.parameter_names), who,
            f"encoder outputs {list(out.params)} must be named {list(spec.parameter_names)}")
    for name, t in out.params.items():
        require(isinstance(t, torch.Tensor) and t.dim() >= 1 and len(t) == n, who,
                f"encoder output {name!r} must be a tensor of {n} rows (one per image)")
        check_tensor(t, tuple(t.shape), who, f"encoder output {name!r}")
    check_latent_rows(out.z, spec, n, who, "sampled z")
    check_extras(out.extras, model.sampler.extras, who, "the sampler's forward")
    params = list(out.params.values())
    weights = torch.randn(out.z.shape, generator=generator(0))
    grads = torch.autograd.grad((weights * out.z).sum(), params, allow_unused=True, retain_graph=True) \
        if out.z.requires_grad else [None]
    require(any(g is not None and bool(g.abs().sum() > 0) for g in grads), who,
            "sampled z must be differentiable with respect to the encoder's outputs, or the decoder's loss never "
            "reaches the encoder (reparameterise, or pass gradients straight through: z = z_e + (z_q - z_e).detach())")
    check_tensor(out.x_hat, (len(out.z), *spec.input_shape), who, "decoder output")
    check_unit_range(out.x_hat, who, "decoder output")


def _check_stage(model: GenerativeModel, stage: Any, x: torch.Tensor, labels: Any, seed: int, who: str) -> None:
    """A later training stage's loss keeps the loss contract and trains every module the stage names."""
    who = f"{who} stage {stage.name!r}"
    with failures_as_assertions(who, "the stage's loss"):
        losses = model.compute_loss(x, labels, generator=generator(seed), stage=stage.name)
    check_loss_terms(losses, model.stage_losses[stage.name].terms, who)
    backward(losses["loss"], who, "the total 'loss'")
    for path in stage.trains:
        check_gradients(model.get_submodule(path), f"{who}: {path}")
    model.zero_grad(set_to_none=True)


def _check_player(model: GenerativeModel, player: Any, x: torch.Tensor, labels: Any, seed: int, who: str) -> None:
    """A player's loss keeps the loss contract and its gradient reaches every module the player names."""
    who = f"{who} player {player.name!r}"
    with failures_as_assertions(who, "the player's loss"):
        losses = model.compute_loss(x, labels, generator=generator(seed), player=player.name)
    check_loss_terms(losses, model.loss_named(player=player.name).terms, who)
    backward(losses["loss"], who, "the total 'loss'")
    for path in player.trains:
        check_gradients(model.get_submodule(path), f"{who}: {path}")
    model.zero_grad(set_to_none=True)


def _check_inference(model: GenerativeModel, x: torch.Tensor, labels: Any, seed: int, who: str) -> None:
    spec, n = model.spec, len(x)
    if model.generator_only:
        from genkit.contract.model import NoEncoderError

        for what, call in (("codes", model.codes), ("reconstruct", model.reconstruct)):
            try:
                call(x, labels)
            except NoEncoderError:
                continue
            raise AssertionError(f"{who}: a generator-only model's {what} must raise NoEncoderError")
    else:
        codes = model.codes(x, labels)
        check_tensor(codes, (n, *spec.latent_shape), who, "codes (the sampler's mean)")
        require(torch.equal(codes, model.codes(x, labels)), who, "codes must be deterministic in eval mode")
        check_unit_range(model.reconstruct(x, labels), who, "reconstruction")
    check_exportable_sampler(model.sampler, who)
    with torch.no_grad():
        check_tensor(model.sampler.sample_prior(3, generator=generator(seed)), (3, *spec.latent_shape), who,
                     "sample_prior(3)")
    generated = model.generate(3, generator=generator(seed), labels=labels_for(spec, 3))
    check_tensor(generated, (3, *spec.input_shape), who, "generate(3)")
    check_unit_range(generated, who, "generated images")
    if spec.classes > 1:
        other = model.generate(3, generator=generator(seed), labels=labels_for(spec, 3, offset=1))
        require(not torch.equal(generated, other), who,
                "a conditional model must generate images that depend on the label; other labels with the same "
                "seed give the same images")


def check_onnx_parity(model: GenerativeModel, images: Any = None, atol: float = 1e-5, **options: Any) -> dict[str, Any]:
    """The model's encoder and decoder export to ONNX and compute what torch computes, within ``atol``.

    Raises ``AssertionError`` naming the component and the largest difference (or why neither of torch's
    exporters could export it). The check itself, and its options, live in ``genkit.onnx.parity``.
    """
    from genkit.onnx.parity import check_onnx_parity as check

    return check(model, images, atol, **options)
