"""The players of a training stage and the optimisation step each takes.

A stage trains one player unless the recipe declares several (``genkit.config.PlayerSettings``): a
GAN's critic and generator, say. A player is a named group of the model's modules with its own loss,
optimizer, learning rate, betas, weight decay and gradient clip. Players take turns, one batch a step:
each takes its ``steps`` steps in the order the recipe lists them, then the cycle starts again (WGAN-GP's
critic takes 5 batches, then the generator 1). The turn is a function of the run's step count, so a
resumed run continues the cycle where it stopped; the checkpoint records it, every optimizer's state,
and refuses to resume when the cycle has changed.

While a player steps only its parameters require gradients, so its loss reaches exactly its modules:
a critic's step does not touch the generator, and the generator's step passes through the critic
without training it. Another player's BatchNorm layers normalise by the batch but keep their running
statistics as they are (they are that player's state). Each player's terms are logged as
``PLAYER.TERM``; a one-player stage keeps the loss's own term names, and trains exactly as a model without
players does.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from genkit.config import RunConfig
from genkit.errors import PluginError
from genkit.training.device import autocast
from genkit.training.optim import build_optimizer, learning_rate
from genkit.training.stages import MAIN, Stage, parameters_of, train_only, trained_parameters

if TYPE_CHECKING:
    from genkit.training.loop import Trainer


@dataclasses.dataclass(eq=False)
class Player:
    """One player of the current stage: what it trains, with what, and how often."""

    name: str
    trains: tuple[str, ...]  # the module paths it trains (() for a stage without players: every module)
    stage_loss: str | None  # the stage's loss in model.stage_losses (a later stage's single player)
    player: str | None  # its name in the recipe's players (None for the single player of a stage without)
    terms: tuple[str, ...]  # its loss's terms, ``loss`` first
    labels: tuple[str, ...]  # the terms' names in the metrics (``PLAYER.TERM`` with several players)
    offset: int  # where its terms start in the trainer's term vector
    parameters: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    steps: int
    lr: float
    grad_clip: float
    averages: bool  # its steps change averaged weights (the average follows only those steps)
    schedule: str | None = None  # its learning-rate schedule, where it is not the training section's
    loss_of: torch.nn.Module | None = None  # its loss through DistributedDataParallel in a torchrun launch
    norms: list[tuple[torch.nn.Module, bool]] | None = None  # BatchNorm layers, each with whether it is this player's

    def learning_rate(self, trainer: Trainer, epoch: int) -> float:
        stage, t = trainer.stage, trainer.config.training
        settings = t if self.schedule in (None, t.schedule) else dataclasses.replace(t, schedule=self.schedule)
        return learning_rate(settings, self.lr, epoch - stage.first_epoch, stage.epochs)

    def take_turn(self, model: torch.nn.Module) -> None:
        """Only this player's parameters require gradients from now on, and only its BatchNorm layers keep
        running statistics: another player's layer still normalises by the batch in training mode (a critic
        is shown the generator's images as the generator's own step makes them) but leaves its statistics,
        which are that player's state, as they are."""
        train_only(model, self.parameters)
        if self.norms is None:  # the model's BatchNorm layers, and whether each is this player's: found once
            owned = {id(m) for path in self.trains for m in model.get_submodule(path).modules()}
            self.norms = [(m, not self.trains or id(m) in owned) for m in model.modules() if isinstance(m, _BatchNorm)]
        for module, mine in self.norms:
            tracks = module.__dict__.setdefault("_tracks_running_stats", module.track_running_stats)
            module.track_running_stats = tracks and mine

    def step(self, trainer: Trainer, x: torch.Tensor, labels: torch.Tensor | None, weight: float) -> torch.Tensor:
        """One optimisation step of this player on batch ``x``; its loss terms (detached, in ``terms`` order).

        ``weight`` scales the loss that is minimised (not the returned terms): a rank holding an uneven share
        of a partial batch weighs it so that DDP's average over ranks is the batch mean.
        """
        t, model, scaler = trainer.config.training, trainer.model, trainer.scaler
        if t.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(trainer.device, t.precision):
            if self.loss_of is not None:
                terms = self.loss_of(x, labels, generator=trainer.noise_gen)
            else:
                terms = model.compute_loss(x, labels, generator=trainer.noise_gen, stage=self.stage_loss,
                                           player=self.player)
        loss = terms["loss"] if weight == 1 else terms["loss"] * weight
        if not loss.requires_grad:
            raise PluginError(f"player {self.name!r}'s loss does not depend on the modules it trains "
                              f"({', '.join(self.trains) or 'every module'}): its terms carry no gradient")
        self.optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                           self.grad_clip)
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        # no-gradient updates, then the averaged weights (when this step moved any of them)
        model.after_step(trainer.state.global_step + 1, average=self.averages)
        return torch.stack([terms[k].detach().float() for k in self.terms])


def _averaged_ids(model: torch.nn.Module) -> set[int]:
    averaged = getattr(model, "averaged", None)
    if averaged is None:
        return set()
    return {id(p) for p in averaged.pairs(model)[1]}


def players_of(trainer: Trainer, stage: Stage) -> list[Player]:
    """The players of ``stage``, each with a fresh optimizer (and, in a torchrun launch, its DDP wrapper)."""
    config: RunConfig = trainer.config
    model, t = trainer.model, config.training
    averaged = _averaged_ids(model)
    if stage.index or not config.players:  # one player: the stage's loss over what the stage trains
        params = trained_parameters(model, stage)
        loss = model.loss_named(stage.loss)
        unused = stage.index == 0 and len(trainer.stages) > 1  # the first stage never reaches later stages' modules
        terms = tuple(loss.terms)
        player = Player(stage.name if stage.index else MAIN, stage.trains, stage.loss, None, terms, terms,
                        0, params, build_optimizer(t, params, stage.lr, model), 1, stage.lr, t.grad_clip,
                        bool(averaged), loss_of=trainer.dist.wrap_loss(model, trainer.device, stage.loss,
                                                                       find_unused=unused))
        return [player]
    players, offset = [], 0
    for settings in config.players:
        params = parameters_of([model.get_submodule(path) for path in settings.trains])
        loss = model.loss_named(player=settings.name)
        lr = t.lr if settings.lr is None else settings.lr
        optimizer = build_optimizer(dataclasses.replace(
            t, optimizer=settings.optimizer or t.optimizer,
            weight_decay=t.weight_decay if settings.weight_decay is None else settings.weight_decay),
            params, lr, model, betas=tuple(settings.betas))
        player = Player(settings.name, tuple(settings.trains), None, settings.name, tuple(loss.terms),
                        tuple(f"{settings.name}.{term}" for term in loss.terms), offset, params, optimizer,
                        settings.steps, lr, t.grad_clip if settings.grad_clip is None else settings.grad_clip,
                        bool(averaged & {id(p) for p in params}), settings.schedule)
        offset += len(player.terms)
        # DDP registers what requires gradients when it wraps; the BatchNorm layers are left alone here, as
        # wrapping replaces them (global statistics) and copies their settings
        train_only(model, player.parameters)
        player.loss_of = trainer.dist.wrap_loss(model, trainer.device, player=settings.name, find_unused=True)
        players.append(player)
    return players


def turns(players: list[Player]) -> list[Player]:
    """One cycle of turns: each player ``steps`` times, in order."""
    return [player for player in players for _ in range(player.steps)]
