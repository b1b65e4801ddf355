"""GenerativeModel: one encoder, one sampler, one decoder and one loss, built from a configuration."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import nn

from genkit.contract.averaged import AveragedWeights
from genkit.contract.components import Decoder, Encoder, Loss, ModelOutput, ModelSpec, Sampler, SamplerOutput
from genkit.contract.registry import COMPONENT_KINDS, NO_ENCODER, Registry
from genkit.errors import ConfigError

if TYPE_CHECKING:
    from genkit.config import RunConfig


class NoEncoderError(ConfigError):
    """A generator-only model asked to encode, reconstruct or score a likelihood."""

    def __init__(self, what: str):
        super().__init__(f"this model has no encoder (a generator-only recipe), so it cannot {what}; it generates "
                         f"from its prior: use `genkit generate` or `genkit evaluate`")


class GenerativeModel(nn.Module):
    """Composes the four parts; ``config`` is the validated configuration it was built from.

    ``encoder`` is None in a generator-only model: its forward pass draws z from the prior. ``stage_losses``
    holds the losses of the recipe's later training stages, by stage name, and ``player_losses`` those of
    its players that have a loss of their own, by player name; their parameters (a critic a loss owns, say)
    are saved with the model's and are never part of an exported graph.
    """

    def __init__(self, encoder: Encoder | None, sampler: Sampler, decoder: Decoder, loss: Loss,
                 config: RunConfig | None = None, stage_losses: dict[str, Loss] | None = None,
                 player_losses: dict[str, Loss] | None = None, spec: ModelSpec | None = None):
        super().__init__()
        self.encoder, self.sampler, self.decoder, self.loss = encoder, sampler, decoder, loss
        self.stage_losses = nn.ModuleDict(stage_losses or {})
        self.player_losses = nn.ModuleDict(player_losses or {})
        self.config = config
        self._spec = spec if spec is not None else encoder.spec
        self.averaged: AveragedWeights | None = None  # training.ema's average of the weights, when set

    def after_step(self, step: int, average: bool = True) -> None:
        """After optimizer step ``step`` (1-based over the run): each component's no-gradient update, in the
        order encoder, sampler, decoder, loss, stage losses, player losses; then, when ``average`` (the step
        changed averaged weights), the averaged weights follow the result."""
        with torch.no_grad():
            for part in (self.encoder, self.sampler, self.decoder, self.loss, *self.stage_losses.values(),
                         *self.player_losses.values()):
                if part is not None:
                    part.after_step(step)
        if self.averaged is not None and average:
            self.averaged.update(self, step)

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def generator_only(self) -> bool:
        return self.encoder is None

    def require_encoder(self, what: str) -> None:
        if self.encoder is None:
            raise NoEncoderError(what)

    def loss_named(self, stage: str | None = None, player: str | None = None) -> Loss:
        """The loss of training stage ``stage``, or of player ``player``, or (neither) the model's own."""
        if stage is not None:
            return self.stage_losses[stage]
        if player is not None and player in self.player_losses:
            return self.player_losses[player]
        return self.loss

    def player_loss_map(self) -> dict[str, Loss]:
        """Every player's loss by player name (a player with no loss of its own minimises the model's)."""
        players = self.config.players if self.config is not None else ()
        return {p.name: self.loss_named(player=p.name) for p in players}

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
        self.require_encoder("encode images")
        return dict(zip(self.spec.parameter_names, self.encoder(x, *self.condition(labels))))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None, reconstruct: bool = True) -> ModelOutput:
        if self.encoder is None:  # generator-only: one prior draw per image of the batch
            params, drawn = {}, SamplerOutput(self.sampler.sample_prior(len(x), generator=generator))
        else:
            params = self.encode(x, labels)
            drawn = self.sampler(*params.values(), generator=generator)
        if not isinstance(drawn, SamplerOutput):
            drawn = SamplerOutput(drawn)
        x_hat = None
        if reconstruct:
            # a sampler drawing K points per image returns K·N rows: the labels repeat with them
            cond = self.condition(_repeat_rows(labels, len(drawn.z)))
            x_hat = self.decoder(drawn.z, *cond)
        return ModelOutput(x_hat, params, drawn.z, drawn.extras, labels, self.sampler.prior(),
                           self.player_loss_map(), generator)

    def compute_loss(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None, stage: str | None = None,
                     player: str | None = None) -> dict[str, torch.Tensor]:
        """The loss terms of one batch: the model's loss, or the loss of training stage ``stage`` or player
        ``player``."""
        loss = self.loss_named(stage, player)
        out = self(x, labels, generator=generator, reconstruct=loss.needs_reconstruction)
        return loss(x, out)

    @torch.no_grad()
    def codes(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic latent codes (the sampler's mean) of an image batch."""
        self.require_encoder("encode images")
        return self.sampler.mean(*self.encoder(x, *self.condition(labels)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.require_encoder("reconstruct images")
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
    classes = {kind: registry.component_class(kind, getattr(model_cfg, kind)) for kind in COMPONENT_KINDS
               if getattr(model_cfg, kind) != NO_ENCODER}
    spec = ModelSpec(tuple(model_cfg.input_shape), tuple(model_cfg.latent_shape),
                     tuple(classes["sampler"].parameter_names), classes=model_cfg.classes)
    encoder = None
    if "encoder" in classes:
        encoder = _construct(classes["encoder"], "encoder", spec, config.component_settings("encoder"))
        spec = dataclasses.replace(spec, feature_shape=tuple(encoder.feature_shape))
        encoder.spec = spec
    parts = {kind: _construct(classes[kind], kind, spec, config.component_settings(kind))
             for kind in ("sampler", "decoder", "loss")}
    stage_losses = {stage.name: _construct(registry.component_class("loss", stage.loss), f"stage {stage.name} loss",
                                           spec, dataclasses.asdict(stage.loss_settings))
                    for stage in config.stages}
    player_losses = {p.name: _construct(registry.component_class("loss", p.loss), f"player {p.name} loss", spec,
                                        dataclasses.asdict(p.loss_settings)) for p in config.players if p.loss}
    model = GenerativeModel(encoder, parts["sampler"], parts["decoder"], parts["loss"], config, stage_losses,
                            player_losses, spec)
    t = config.training
    if t.ema_decay:
        try:
            model.averaged = AveragedWeights(model, t.ema_decay, t.ema_start, t.ema_modules)
        except AttributeError as exc:
            raise ConfigError(f"training.ema_modules names a path that is not a module of this model ({exc}); use "
                              f"encoder, sampler, decoder or one of their submodules") from None
    for what, groups in (("stage", config.stages), ("player", config.players)):
        for group in groups:
            for path in group.trains:
                try:
                    model.get_submodule(path)
                except AttributeError:
                    raise ConfigError(f"{what} {group.name!r} trains {path!r}, which is not a module of this model "
                                      f"(e.g. encoder, sampler, decoder, player_losses.NAME or one of their "
                                      f"submodules)") from None
    return model
