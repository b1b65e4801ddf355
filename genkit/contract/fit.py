"""Do a model's components fit each other? Checked on one real batch before a run folder exists.

The four parts of a recipe may come from four plugins, each correct alone and wrong together: an encoder
that gives one tensor to a sampler that takes two, a loss that reads an extra its sampler does not give,
a decoder built for another latent shape. Training would find out at its first step, as a traceback
through the loop, after the run folder was made. ``check_fit`` runs the pipeline once, step by step, on
two images, and names the two components that disagree and their plugins in one line.

The pass runs in eval mode, without gradients, on a private generator and with the global random state
restored after it, so the training that follows draws exactly what it would have drawn without it.
"""

from __future__ import annotations

from typing import Any

import torch

from genkit.contract.blame import PLUGIN_FAILURES, describe
from genkit.contract.components import Component, ModelOutput, SamplerOutput
from genkit.errors import PluginError


def _say(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split()) or '(no message)'}"


def _shapes(tensors) -> str:
    return ", ".join(str(tuple(t.shape)) for t in tensors)


def _parts(model) -> dict[str, str]:
    """The model's components, each named by kind, registered name and plugin."""
    names = model.config.model if model.config is not None else None
    return {kind: describe(getattr(model, kind), kind, getattr(names, kind, None) if names else None)
            for kind in ("encoder", "sampler", "decoder", "loss") if getattr(model, kind) is not None}


def _losses(model) -> list[tuple[str | None, Any]]:
    """(how errors name it, loss) of the model's loss and of every stage's and player's own."""
    return [(None, model.loss), *((f"stage {name!r}", loss) for name, loss in model.stage_losses.items()),
            *((f"player {name!r}", loss) for name, loss in getattr(model, "player_losses", {}).items())]


def check_fit(model, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    """Raise ``PluginError`` naming the components that do not fit, from one pass over ``x`` (a few images)."""
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            _check(model, _parts(model), x, labels)
    finally:
        model.train(was_training)


def _check(model, parts: dict[str, str], x: torch.Tensor, labels: torch.Tensor | None) -> None:
    spec, sampler = model.spec, model.sampler
    for loss_name, loss in _losses(model):
        missing = [name for name in getattr(loss, "needs_extras", ()) if name not in sampler.extras]
        if missing:
            raise PluginError(f"{_loss_part(parts, loss, loss_name)} needs the sampler extra "
                              f"{', '.join(map(repr, missing))}, which {parts['sampler']} does not give (it gives: "
                              f"{', '.join(sampler.extras) or 'none'}); use a sampler that gives it")
    condition = model.condition(labels)
    if model.encoder is None:  # generator-only: the decoder draws from the prior
        params = ()
        try:
            drawn = sampler.sample_prior(len(x), generator=torch.Generator(x.device).manual_seed(0))
        except PLUGIN_FAILURES as exc:
            raise PluginError(f"{parts['sampler']}'s prior cannot be sampled: {_say(exc)}") from exc
    else:
        try:
            params = model.encoder(x, *condition)
        except PLUGIN_FAILURES as exc:
            raise PluginError(f"{parts['encoder']} fails on images of shape {tuple(x.shape)}: {_say(exc)}") from exc
        params = tuple(params) if isinstance(params, (tuple, list)) else (params,)
        if len(params) != len(spec.parameter_names):
            raise PluginError(f"{parts['encoder']} gives {len(params)} output(s), but {parts['sampler']} takes "
                              f"{len(spec.parameter_names)} ({', '.join(spec.parameter_names)})")
        try:
            drawn = sampler(*params, generator=torch.Generator(x.device).manual_seed(0))
        except PLUGIN_FAILURES as exc:
            raise PluginError(f"{parts['sampler']} cannot take what {parts['encoder']} gives "
                              f"({_shapes(params)}): {_say(exc)}") from exc
    drawn = drawn if isinstance(drawn, SamplerOutput) else SamplerOutput(drawn)
    if tuple(drawn.z.shape[1:]) != spec.latent_shape:
        raise PluginError(f"{parts['sampler']} gives latent points of shape {tuple(drawn.z.shape[1:])}, not the "
                          f"model's latent_shape {list(spec.latent_shape)}")
    absent = [name for name in sampler.extras if name not in drawn.extras]
    if absent:
        raise PluginError(f"{parts['sampler']} declares the extras {', '.join(map(repr, absent))} but does not "
                          f"return them")
    rows = drawn.z.shape[0]
    repeated = labels.repeat(rows // len(labels)) if labels is not None and rows % len(labels) == 0 else labels
    try:
        x_hat = model.decoder(drawn.z, *model.condition(repeated))
    except PLUGIN_FAILURES as exc:
        raise PluginError(f"{parts['decoder']} cannot take the latent points {parts['sampler']} gives "
                          f"({tuple(drawn.z.shape)}): {_say(exc)}") from exc
    if tuple(x_hat.shape[1:]) != spec.input_shape:
        raise PluginError(f"{parts['decoder']} gives images of shape {tuple(x_hat.shape[1:])}, not the model's "
                          f"input_shape {list(spec.input_shape)}")
    out = ModelOutput(x_hat, dict(zip(spec.parameter_names, params)), drawn.z, drawn.extras, labels, sampler.prior(),
                      model.player_loss_map() if hasattr(model, "player_loss_map") else {},
                      torch.Generator(x.device).manual_seed(1))
    for loss_name, loss in _losses(model):
        _check_loss(parts, loss, loss_name, x, out)


def _loss_part(parts: dict[str, str], loss: Component, owner: str | None) -> str:
    return parts["loss"] if owner is None else f"{owner}'s {describe(loss, 'loss')}"


def _check_loss(parts: dict[str, str], loss, stage: str | None, x: torch.Tensor, out: ModelOutput) -> None:
    who = _loss_part(parts, loss, stage)
    try:
        terms: Any = loss(x, out)
    except KeyError as exc:
        raise PluginError(f"{who} reads {exc}, which {parts['sampler']} does not give (its extras: "
                          f"{', '.join(out.extras) or 'none'}); declare it in the loss's needs_extras and use a "
                          f"sampler that gives it") from exc
    except PLUGIN_FAILURES as exc:
        raise PluginError(f"{who} fails on what {parts['sampler']} and {parts['decoder']} give: {_say(exc)}") from exc
    if not isinstance(terms, dict) or "loss" not in terms:
        raise PluginError(f"{who} returns {type(terms).__name__}, not a dict of terms with 'loss'")
    absent = [term for term in loss.terms if term not in terms]
    if absent:
        raise PluginError(f"{who} declares the terms {', '.join(map(repr, absent))} in its terms but does not "
                          f"return them")
