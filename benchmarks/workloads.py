"""Training workloads as timing windows: genkit's real ``Trainer`` and the hand-written loop.

A genkit window is one ``Trainer.train_epoch`` over a fixed slice of the in-memory training images, so
it goes through everything a real epoch does (batching, the step, the loss bookkeeping, the NaN check,
the progress line) and reports the seconds the trainer itself measured around its loop; the per-epoch
evaluation it runs afterwards uses a 64-image test split and is not counted.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from .context import Context
from .data import SlicedData
from .handwritten import HandwrittenTrainer

_RUNS = itertools.count()


def build_trainer(ctx: Context, overrides: Sequence[str] = (), images: int = 0, recipe: str = "vae",
                  compile_loss: bool = False, test_images: int = 64, callbacks: Sequence = ()):
    """A genkit ``Trainer`` on ``images`` in-memory training images (0: all), with ``--set``-style overrides
    and extra ``callbacks``."""
    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.training import Trainer

    config = build_config(get_registry(), recipe, overrides=[*ctx.base_overrides(), *overrides])
    run = ctx.workdir / "windows" / f"{recipe}-{next(_RUNS)}"
    data = SlicedData(ctx.dataset(), images, test_images)
    trainer = Trainer(config, run, dataset=data, progress=False, log=lambda line: None, callbacks=callbacks)
    if compile_loss:
        # Measured here, not offered as a setting: it is slower than eager for this model on the CPU.
        trainer.model.compute_loss = torch.compile(trainer.model.compute_loss)
    return trainer


def trainer_window(trainer):
    """One pass over the trainer's training images, timed by the trainer itself."""

    def window() -> tuple[int, float]:
        trainer.state.permutation, trainer.state.step = None, 0
        record = trainer.train_epoch()
        return len(trainer.train_split), record["seconds"]

    return window


def handwritten_window(images: torch.Tensor, batch_size: int = 32, lr: float = 5e-4):
    trainer = HandwrittenTrainer(batch_size=batch_size, lr=lr)

    def window() -> int:
        trainer.epoch(images)
        return len(images)

    window.trainer = trainer  # type: ignore[attr-defined]
    return window


def window_images(ctx: Context, batch_size: int = 32) -> int:
    return ctx.sizes.window_steps * batch_size
