"""The optimizer and the learning-rate schedule a run's settings choose.

Adam with Keras' epsilon (1e-7) and the book's step decay are the defaults, so the reference VAE
trains to the numbers it always did; AdamW and a cosine schedule are one setting away. The schedule
is a function of the epoch within a stage, applied at the start of each epoch, so resuming mid-run
gives the same rate as an uninterrupted run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from genkit.config import TrainingSettings
from genkit.errors import ConfigError


def build_optimizer(settings: TrainingSettings, parameters: Iterable[torch.nn.Parameter],
                    lr: float, model: torch.nn.Module | None = None,
                    betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """Adam (L2 weight decay) or AdamW (decoupled) over ``parameters``, fused where the settings ask; one
    parameter group per ``training.lr_scales`` entry of ``model`` (each group's ``lr_scale`` multiplies the
    schedule's rate), and one for the rest."""
    cls = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    groups = parameter_groups(model, list(parameters), settings.lr_scales) if settings.lr_scales else None
    if groups is None:
        return cls(list(parameters), lr=lr, betas=betas, eps=settings.adam_eps, weight_decay=settings.weight_decay,
                   fused=settings.fused_optimizer or None)
    for group in groups:
        group["lr"] = lr * group["lr_scale"]
    return cls(groups, lr=lr, betas=betas, eps=settings.adam_eps, weight_decay=settings.weight_decay,
               fused=settings.fused_optimizer or None)


def parameter_groups(model: torch.nn.Module | None, parameters: list[torch.nn.Parameter],
                     scales: dict[str, float]) -> list[dict]:
    """The groups of ``parameters`` by the module paths of ``scales``; ``ConfigError`` for a path that is no module
    of ``model`` or one inside another path (each parameter has one rate)."""
    if model is None:
        raise ConfigError("training.lr_scales needs the model to find its module paths")
    trained = {id(p) for p in parameters}
    owner: dict[int, str] = {}
    groups = []
    for path, scale in scales.items():
        try:
            module = model.get_submodule(path)
        except AttributeError:
            raise ConfigError(f"training.lr_scales names {path!r}, which is not a module of this model (e.g. "
                              f"encoder, sampler, decoder, or one of their submodules)") from None
        chosen = []
        for p in module.parameters():
            if id(p) in owner:
                raise ConfigError(f"training.lr_scales names {owner[id(p)]!r} and {path!r}, which share parameters: "
                                  f"give each parameter one rate")
            owner[id(p)] = path
            if id(p) in trained:
                chosen.append(p)
        if chosen:  # a module the current stage does not train has no group in its optimizer
            groups.append({"params": chosen, "lr_scale": float(scale), "name": path})
    rest = [p for p in parameters if id(p) not in owner]
    return ([{"params": rest, "lr_scale": 1.0, "name": "rest"}] if rest else []) + groups


def learning_rate(settings: TrainingSettings, lr: float, epoch: int, epochs: int) -> float:
    """The rate of 0-based ``epoch`` of a stage of ``epochs`` epochs that starts at ``lr``."""
    if settings.schedule == "cosine":
        progress = epoch / max(epochs, 1)
        return settings.min_lr + (lr - settings.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr * settings.lr_decay ** (epoch // settings.lr_decay_step)
