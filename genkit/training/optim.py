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


def build_optimizer(settings: TrainingSettings, parameters: Iterable[torch.nn.Parameter],
                    lr: float) -> torch.optim.Optimizer:
    """Adam (L2 weight decay) or AdamW (decoupled) over ``parameters``, fused where the settings ask."""
    cls = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    return cls(list(parameters), lr=lr, eps=settings.adam_eps, weight_decay=settings.weight_decay,
               fused=settings.fused_optimizer or None)


def learning_rate(settings: TrainingSettings, lr: float, epoch: int, epochs: int) -> float:
    """The rate of 0-based ``epoch`` of a stage of ``epochs`` epochs that starts at ``lr``."""
    if settings.schedule == "cosine":
        progress = epoch / max(epochs, 1)
        return settings.min_lr + (lr - settings.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr * settings.lr_decay ** (epoch // settings.lr_decay_step)
