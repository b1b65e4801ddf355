"""Callbacks: what happens around the training loop's steps, epochs and stages.

The ``Trainer`` owns the loop and nothing else; checkpoints, the metrics log, sample grids, progress
and extra logs (TensorBoard) are callbacks, so users and the benchmarks extend a run by passing their
own instead of changing the Trainer. Only rank 0 of a distributed run calls callbacks that write; the
hooks see the trainer, read its state and must not change the model's numbers.

Hooks, in order: ``on_fit_start`` (the run folder is ready), ``on_stage_start`` (each stage, also the
one a resumed run continues), ``on_epoch_start``, ``on_step_end`` (after every optimisation step),
``on_epoch_end`` (after the epoch is checkpointed: the record is committed), ``on_fit_end``.
What a hook may read of the trainer is ``CallbackSurface``'s list. Every writing callback declares what
it writes (``outputs``), and all of it is checked before the first step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genkit.training.loop import Trainer, TrainResult
    from genkit.training.stages import Stage


class CallbackSurface:
    """What a callback may read of the ``Trainer``: a stable surface (everything else on it may change).

    - ``config`` (``RunConfig``), ``model`` (``GenerativeModel``), ``device`` (``torch.device``),
      ``run_dir`` (``Path``), ``resume`` (bool: the run continues a checkpoint);
    - ``epoch`` (epochs committed, counted across stages), ``step`` (steps done in the epoch in
      progress; 0 between epochs), ``global_step`` (steps since the run began), ``steps_in_epoch``;
    - ``stage`` (the current ``genkit.training.stages.Stage``: ``index``, ``name``, ``loss``, ``trains``,
      ``epochs``, ``first_epoch``, ``lr``, ``batch_size``), ``stages`` (all of them, in order), ``terms``
      (the names of the stage's loss terms, ``loss`` first; ``PLAYER.TERM`` for each player of a recipe with
      several), ``optimizer`` (the stage's optimizer; the first player's), ``optimizers`` (every player's, by
      name, in turn order; ``{"main": optimizer}`` without players);
    - ``metrics`` (the committed epochs' records, as in metrics.jsonl), ``train_split``, ``test_split``;
    - ``rank``, ``world_size``, ``is_main`` (rank 0, the process that writes), ``log(line)`` (stderr on
      rank 0, nothing elsewhere).

    A callback reads them and changes none of them: the weights, the optimizer and the position are
    the loop's, and exact resume depends on it. ``tests/test_callback_surface.py`` holds the Trainer to
    this list.
    """

    SURFACE = ("config", "model", "device", "run_dir", "resume", "epoch", "step", "global_step", "steps_in_epoch",
               "stage", "stages", "terms", "optimizer", "optimizers", "metrics", "train_split", "test_split", "rank",
               "world_size", "is_main", "log")

    # Read-only views of the position and the process (the loop replaces ``state`` at each epoch's end).
    epoch = property(lambda self: self.state.epoch, doc="Epochs committed so far, counted across stages.")
    step = property(lambda self: self.state.step, doc="Steps done in the epoch in progress (0 between epochs).")
    global_step = property(lambda self: self.state.global_step, doc="Optimisation steps since the run began.")
    rank = property(lambda self: self.dist.rank, doc="This process's rank (0 unless torchrun launched it).")
    world_size = property(lambda self: self.dist.world_size, doc="Processes training together (1 by default).")


class Callback:
    """Override the hooks you need; each is a no-op by default.

    A hook gets the trainer as its first argument and may read what ``CallbackSurface`` lists (the
    model, the configuration, the run folder, the counters, the stage, the optimizer, the metrics,
    the rank), nothing else.
    """

    writes = True  # called on rank 0 only; a callback that must run on every rank sets this to False

    def outputs(self, trainer: Trainer) -> Iterable[tuple[Path, bool]]:
        """(path, is_folder) of everything the callback will write: checked before the first step, so a
        writer that cannot write stops the run before it trains, not after it committed an epoch."""
        return ()

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_stage_start(self, trainer: Trainer, stage: Stage) -> None: ...

    def on_epoch_start(self, trainer: Trainer, epoch: int, steps: int, start_step: int) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, status: Callable[[], str]) -> None:
        """``step`` is 1-based within the epoch; ``status()`` formats the running loss (it syncs, so call it rarely)."""

    def on_epoch_record(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """The epoch's record before it is committed (the metrics.jsonl line): a callback may add keys of its own."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None: ...


class CallbackList:
    """Calls every callback's hook in order; writing callbacks only on the main rank."""

    def __init__(self, callbacks: Sequence[Callback], is_main: bool):
        self.callbacks = [c for c in callbacks if is_main or not c.writes]

    def check_outputs(self, trainer: Trainer) -> None:
        """``WriteError`` (one line) when any callback's declared output cannot be written."""
        from genkit.files import atomic

        for callback in self.callbacks:
            for path, folder in callback.outputs(trainer):
                atomic.check_writable_output(path, folder)

    def on_fit_start(self, trainer: Trainer) -> None:
        self.check_outputs(trainer)  # also for a Trainer run from Python, not through genkit.train
        for callback in self.callbacks:
            callback.on_fit_start(trainer)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        def call(*args: Any) -> None:
            for callback in self.callbacks:
                getattr(callback, hook)(*args)
        return call


class Checkpoints(Callback):
    """The checkpoint that commits each epoch, and every ``training.checkpoint_every`` steps within one."""

    writes = False  # the mid-epoch save sums running losses over every rank

    def outputs(self, trainer):
        from genkit.run import checkpoint as ckpt

        return [(trainer.run_dir / name, False) for name in (ckpt.CHECKPOINT_FILE, ckpt.WEIGHTS_FILE)]

    def on_step_end(self, trainer, step, status):
        every = trainer.config.training.checkpoint_every
        if every and step % every == 0 and step < trainer.steps_in_epoch:
            trainer.save_partial()

    def on_epoch_end(self, trainer, record):
        trainer.save()


class MetricsLog(Callback):
    """RUN/metrics.jsonl: one record per finished epoch, rewritten whole after the checkpoint."""

    def outputs(self, trainer):
        from genkit.run import checkpoint as ckpt

        return [(trainer.run_dir / ckpt.METRICS_FILE, False)]

    def on_epoch_end(self, trainer, record):
        from genkit.run import checkpoint as ckpt

        ckpt.write_metrics(trainer.run_dir, trainer.metrics)


class SampleGrids(Callback):
    """RUN/samples/epoch-NNNN.png: ``training.samples`` images from the prior, the same prior points each epoch."""

    def outputs(self, trainer):
        from genkit.run import checkpoint as ckpt

        return [(trainer.run_dir / ckpt.SAMPLES_DIR, True)] if trainer.config.training.samples else []

    def on_epoch_end(self, trainer, record):
        trainer.save_samples(record["epoch"])


def format_terms(terms: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in terms.items())


class EpochLog(Callback):
    """One line per epoch on the trainer's log: every loss term, train and test, scheduled settings in force,
    speed and time."""

    def on_epoch_end(self, trainer, record):
        trainer.log(self.line(record, trainer.stages[-1].last_epoch))

    @staticmethod
    def line(record: dict[str, Any], epochs: int) -> str:
        stage = f"{record['stage']} " if "stage" in record else ""
        settings = "".join(f" | {setting} {value:.4g}" for setting, value in record.get("settings", {}).items())
        return (f"{stage}epoch {record['epoch']}/{epochs}: train {format_terms(record['train'])} | test "
                f"{format_terms(record['test'])}{settings} | {record['images_per_second']} img/s, "
                f"{record['seconds']:.1f} s")


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
