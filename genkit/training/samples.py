"""The per-epoch sample grid: images decoded from the same prior points each epoch, so grids are comparable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genkit.contract.averaged import swapped_in
from genkit.run import checkpoint as ckpt

if TYPE_CHECKING:
    from genkit.training.loop import Trainer

SAMPLE_SEED_OFFSET = 7919  # the prior points of the per-epoch sample grid: fixed, so grids are comparable


@torch.no_grad()
def sample_images(trainer: Trainer) -> tuple[torch.Tensor, int | None] | None:
    """``training.samples`` images and the grid's columns (None without samples).

    A conditional model's grid has one row per class (the samples spread over the rows).
    """
    from genkit.files.images import class_rows

    config, model = trainer.config, trainer.model
    n, classes = config.training.samples, config.model.classes
    if not n:
        return None
    labels, columns = None, None
    if classes:
        rows, columns = class_rows(n, classes)
        labels, n = torch.as_tensor(rows, device=trainer.device), len(rows)
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=trainer.device).manual_seed(config.training.seed + SAMPLE_SEED_OFFSET)
    with swapped_in(model):  # the averaged weights, where the model keeps them
        images = model.generate(n, generator=gen, labels=labels).float().cpu()
    model.train(was_training)
    return images, columns


def grid_pixels(trainer: Trainer):
    """The sample grid as (H, W, C) uint8 pixels (None without samples)."""
    from genkit.files.images import grid

    drawn = sample_images(trainer)
    return None if drawn is None else grid(drawn[0].numpy(), drawn[1])


def grid_path(run_dir: Path, epoch: int) -> Path:
    return ckpt.run_path(run_dir, ckpt.SAMPLES_DIR, f"epoch-{epoch:04d}.png")


def save_grid_of(trainer: Trainer, epoch: int) -> None:
    from genkit.files.images import save_grid

    drawn = sample_images(trainer)
    if drawn is not None:
        save_grid(drawn[0].numpy(), grid_path(trainer.run_dir, epoch), drawn[1])
