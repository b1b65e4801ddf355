"""``--log tensorboard``: TensorBoard event files in RUN/tensorboard/, written by TensorBoard's own writer.

Per epoch: every train and test loss term, the learning rate, images/s and the epoch's sample grid.
A resumed run purges events past its checkpoint, so a curve never shows the lost steps twice.
"""

from __future__ import annotations

from genkit.errors import ConfigError
from genkit.training.callbacks import Callback

LOG_DIR = "tensorboard"


def require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("training.log includes 'tensorboard' but the tensorboard package is not installed; "
                          "pip install tensorboard (or genkit[tensorboard])") from None


class TensorBoardLog(Callback):
    def __init__(self) -> None:
        require_tensorboard()
        self.writer = None
        self.purge_step: int | None = None

    def outputs(self, trainer):
        return [(trainer.run_dir / LOG_DIR, True)]

    def on_fit_start(self, trainer):
        self.purge_step = trainer.state.epoch + 1 if trainer.state.epoch else None

    def open(self, trainer):
        """The writer, made at the first committed epoch: a run that fails before it leaves no event file."""
        from torch.utils.tensorboard import SummaryWriter

        from genkit.run import checkpoint as ckpt

        if self.writer is None:
            self.writer = SummaryWriter(str(ckpt.run_path(trainer.run_dir, LOG_DIR)), purge_step=self.purge_step)
        return self.writer

    def on_epoch_end(self, trainer, record):
        self.open(trainer)
        epoch = record["epoch"]
        for split in ("train", "test"):
            for term, value in record[split].items():
                self.writer.add_scalar(f"{split}/{term}", value, epoch)
        self.writer.add_scalar("lr", record["lr"], epoch)
        for setting, value in record.get("settings", {}).items():  # scheduled loss settings in force
            self.writer.add_scalar(f"settings/{setting}", value, epoch)
        if record.get("images_per_second") is not None:
            self.writer.add_scalar("images_per_second", record["images_per_second"], epoch)
        from genkit.training.samples import grid_pixels

        grid = grid_pixels(trainer)
        if grid is not None:
            self.writer.add_image("samples", grid, epoch, dataformats="HWC" if grid.ndim == 3 else "HW")
        self.writer.flush()

    def on_fit_end(self, trainer, result):
        if self.writer is not None:
            self.writer.close()
