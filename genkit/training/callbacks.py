"""Callbacks: what happens around the training loop's steps, epochs and stages.

The ``Trainer`` owns the loop and nothing else; checkpoints, the metrics log, sample grids, progress
and extra logs (TensorBoard) are callbacks, so users and the benchmarks extend a run by passing their
own instead of changing the Trainer. Only rank 0 of a distributed run calls callbacks that write; the
hooks see the trainer, read its state and must not change the model's numbers.

Hooks, in order: ``on_fit_start`` (the run folder is ready), ``on_stage_start`` (each stage, also the
one a resumed run continues), ``on_epoch_start``, ``on_step_end`` (after every optimisation step),
``on_epoch_end`` (after the epoch is checkpointed: the record is committed), ``on_fit_end``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genkit.training.loop import Trainer, TrainResult
    from genkit.training.stages import Stage


class Callback:
    """Override the hooks you need; each is a no-op by default."""

    writes = True  # called on rank 0 only; a callback that must run on every rank sets this to False

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_stage_start(self, trainer: Trainer, stage: Stage) -> None: ...

    def on_epoch_start(self, trainer: Trainer, epoch: int, steps: int, start_step: int) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, status: Callable[[], str]) -> None:
        """``step`` is 1-based within the epoch; ``status()`` formats the running loss (it syncs, so call it rarely)."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None: ...


class CallbackList:
    """Calls every callback's hook in order; writing callbacks only on the main rank."""

    def __init__(self, callbacks: Sequence[Callback], is_main: bool):
        self.callbacks = [c for c in callbacks if is_main or not c.writes]

    def __getattr__(self, hook: str) -> Callable[..., None]:
        def call(*args: Any) -> None:
            for callback in self.callbacks:
                getattr(callback, hook)(*args)
        return call


class Checkpoints(Callback):
    """The checkpoint that commits each epoch, and every ``training.checkpoint_every`` steps within one."""

    writes = False  # the mid-epoch save sums running losses over every rank

    def on_step_end(self, trainer, step, status):
        every = trainer.config.training.checkpoint_every
        if every and step % every == 0 and step < trainer.steps_in_epoch:
            trainer.save_partial()

    def on_epoch_end(self, trainer, record):
        trainer.save()


class MetricsLog(Callback):
    """RUN/metrics.jsonl: one record per finished epoch, rewritten whole after the checkpoint."""

    def on_epoch_end(self, trainer, record):
        from genkit.run import checkpoint as ckpt

        ckpt.write_metrics(trainer.run_dir, trainer.metrics)


class SampleGrids(Callback):
    """RUN/samples/epoch-NNNN.png: ``training.samples`` images from the prior, the same prior points each epoch."""

    def on_epoch_end(self, trainer, record):
        trainer.save_samples(record["epoch"])


class EpochLog(Callback):
    """One line per epoch on the trainer's log: every loss term, train and test, speed and time."""

    def on_epoch_end(self, trainer, record):
        trainer.log(trainer.epoch_line(record))


class ProgressBar(Callback):
    """A bar per epoch on stderr (``genkit.progress``: tqdm; one line every 15 s in a log file)."""

    def __init__(self, stream=None):
        self.stream, self.bar = stream, None

    def on_epoch_start(self, trainer, epoch, steps, start_step):
        from genkit.progress import Progress

        stage = f"{trainer.stage.name} " if len(trainer.stages) > 1 else ""
        self.bar = Progress(steps, f"{stage}epoch {epoch + 1}/{trainer.stages[-1].last_epoch}", self.stream,
                            initial=start_step, unit="step")

    def on_step_end(self, trainer, step, status):
        if self.bar is not None:
            last = step == self.bar.bar.total
            self.bar.update(step, status() if last or self.bar.due() else "")

    def on_epoch_end(self, trainer, record):
        self.close()

    def on_fit_end(self, trainer, result):
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def default_callbacks(progress: bool) -> list[Callback]:
    """What every run does: commit the epoch, log it, draw its samples, say it (and show a bar)."""
    callbacks: list[Callback] = [Checkpoints(), MetricsLog(), SampleGrids(), EpochLog()]
    if progress:
        callbacks.append(ProgressBar())
    return callbacks
