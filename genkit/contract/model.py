"""GenerativeModel: one encoder, one sampler, one decoder and one loss, built from a configuration."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import nn

from genkit.contract.averaged import AveragedWeights
from genkit.contract.components import Decoder, Encoder, Loss, ModelOutput, ModelSpec, Sampler, SamplerOutput
from genkit.contract.registry import COMPONENT_KINDS, Registry
from genkit.errors import ConfigError

if TYPE_CHECKING:
    from genkit.config import RunConfig


class GenerativeModel(nn.Module):
    """Composes the four parts; ``config`` is the validated configuration it was built from.

    ``stage_losses`` holds the losses of the recipe's later training stages, by stage name; their
    parameters (if any) are saved with the model's.
    """

    def __init__(self, encoder: Encoder, sampler: Sampler, decoder: Decoder, loss: Loss,
                 config: RunConfig | None = None, stage_losses: dict[str, Loss] | None = None):
        super().__init__()
        self.encoder, self.sampler, self.decoder, self.loss = encoder, sampler, decoder, loss
        self.stage_losses = nn.ModuleDict(stage_losses or {})
        self.config = config
        self.averaged: AveragedWeights | None = None  # training.ema's average of the weights, when set

    def after_step(self, step: int) -> None:
        """After optimizer step ``step`` (1-based over the run): each component's no-gradient update, in the
        order encoder, sampler, decoder, loss, stage losses, then the averaged weights follow the result."""
        with torch.no_grad():
            for part in (self.encoder, self.sampler, self.decoder, self.loss, *self.stage_losses.values()):
                part.after_step(step)
        if self.averaged is not None:
            self.averaged.update(self, step)

    @property
    def spec(self) -> ModelSpec:
        return self.encoder.spec

    def condition(self, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """The extra inputs of encoder and decoder: the labels of a conditional model, nothing otherwise."""
        if not self.spec.conditional:
            return ()
        if labels is None:
            raise ValueError(f"this model is conditional on a class label in [0, {self.spec.classes}); "
                             f"pass labels")
        return (labels,)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The encoder's outputs, by name."""
        return dict(zip(self.spec.parameter_names, self.encoder(x, *self.condition(labels))))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None, reconstruct: bool = True) -> ModelOutput:
        params = self.encode(x, labels)
        drawn = self.sampler(*params.values(), generator=generator)
        if not isinstance(drawn, SamplerOutput):
            drawn = SamplerOutput(drawn)
        x_hat = None
        if reconstruct:
            # a sampler drawing K points per image returns K·N rows: the labels repeat with them
            cond = self.condition(_repeat_rows(labels, len(drawn.z)))
            x_hat = self.decoder(drawn.z, *cond)
        return ModelOutput(x_hat, params, drawn.z, drawn.extras, labels, self.sampler.prior())

    def compute_loss(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None, stage: str | None = None) -> dict[str, torch.Tensor]:
        """The loss terms of one batch: the model's loss, or the loss of the training stage ``stage``."""
        loss = self.loss if stage is None else self.stage_losses[stage]
        out = self(x, labels, generator=generator, reconstruct=loss.needs_reconstruction)
        return loss(x, out)

    @torch.no_grad()
    def codes(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic latent codes (the sampler's mean) of an image batch."""
        return self.sampler.mean(*self.encoder(x, *self.condition(labels)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.codes(x, labels), *self.condition(labels))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.sampler.sample_prior(n, generator=generator), *self.condition(labels))


def _repeat_rows(labels: torch.Tensor | None, rows: int) -> torch.Tensor | None:
    if labels is None or len(labels) == rows or len(labels) == 0 or rows % len(labels):
        return labels
    return labels.repeat(rows // len(labels))


def cycle_labels(n: int, classes: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Labels 0, 1, ..., classes-1, 0, ... for ``n`` generated images (None for an unconditional model)."""
    return torch.arange(n, device=device) % classes if classes else None


def _construct(cls: type, kind: str, spec: ModelSpec, settings: dict):
    try:
        return cls(spec=spec, **settings)
    except (ValueError, TypeError) as exc:
        # A component rejecting a combination of settings is a configuration error, not a crash.
        raise ConfigError(f"{kind} {cls.__name__} cannot be built with these settings: {exc}") from exc


def build_model(config: RunConfig, registry: Registry | None = None) -> GenerativeModel:
    """Build the model a validated configuration describes (weights freshly initialised)."""
    if registry is None:
        from genkit.contract.host import get_registry

        registry = get_registry()
    model_cfg = config.model
    classes = {kind: registry.component_class(kind, getattr(model_cfg, kind)) for kind in COMPONENT_KINDS}
    spec = ModelSpec(tuple(model_cfg.input_shape), tuple(model_cfg.latent_shape),
                     tuple(classes["sampler"].parameter_names), classes=model_cfg.classes)
    encoder = _construct(classes["encoder"], "encoder", spec, config.component_settings("encoder"))
    spec = dataclasses.replace(spec, feature_shape=tuple(encoder.feature_shape))
    encoder.spec = spec
    parts = {kind: _construct(classes[kind], kind, spec, config.component_settings(kind))
             for kind in ("sampler", "decoder", "loss")}
    stage_losses = {stage.name: _construct(registry.component_class("loss", stage.loss), f"stage {stage.name} loss",
                                           spec, dataclasses.asdict(stage.loss_settings))
                    for stage in config.stages}
    model = GenerativeModel(encoder, parts["sampler"], parts["decoder"], parts["loss"], config, stage_losses)
    t = config.training
    if t.ema_decay:
        try:
            model.averaged = AveragedWeights(model, t.ema_decay, t.ema_start, t.ema_modules)
        except AttributeError as exc:
            raise ConfigError(f"training.ema_modules names a path that is not a module of this model ({exc}); use "
                              f"encoder, sampler, decoder or one of their submodules") from None
    for stage in config.stages:
        for path in stage.trains:
            try:
                model.get_submodule(path)
            except AttributeError:
                raise ConfigError(f"stage {stage.name!r} trains {path!r}, which is not a module of this model "
                                  f"(e.g. encoder, sampler, decoder or one of their submodules)") from None
    return model
