"""Starting, resuming and launching runs: what ``genkit train`` and ``genkit.train`` share.

The run-folder choice (a new folder under ./runs/, ``out``, or the resumed run), the checks that a
resumed run can continue exactly, the refusal of anything that would break it, and the torchrun
launch of ``nproc`` workers all live here, so that training from Python gives the same guarantees as
the command line: everything that can be checked is checked before a folder exists, and a new run
that fails before its first checkpoint leaves no folder behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genkit.errors import ConfigError

# What --resume may change: nothing that would make the resumed run differ from an uninterrupted one.
RESUMABLE = {("training", "epochs"), ("training", "device"), ("data", "workers"), ("training", "threads"),
             ("training", "checkpoint_every"), ("training", "log")}

Echo = Callable[[str], None]


def resolve_config(recipe: str | None, config_file: str | Path | None, sets: Sequence[str],
                   resume_dir: str | Path | None):
    """The validated configuration: the recipe's with the user's settings, or the resumed run's own."""
    from genkit.config import build_config, merge, override_table, parse_override, validate
    from genkit.contract.host import get_registry
    from genkit.run import checkpoint as ckpt
    from genkit.run.config_file import upgraded

    registry = get_registry()
    if not resume_dir:
        if not recipe:
            raise ConfigError("name a recipe to train (see `genkit list`), or resume a run")
        return build_config(registry, recipe, config_file, sets)
    document = ckpt.read_config(resume_dir)
    if recipe and recipe != document["recipe"]:
        raise ConfigError(f"{resume_dir} is a run of recipe {document['recipe']!r}, not {recipe!r}")
    if config_file:
        raise ConfigError("--config cannot change a run being resumed; use --set for what may change")
    config = upgraded(document)
    for text in sets:
        path, _ = parse_override(text)
        if tuple(path) not in RESUMABLE and not (path[0] == "stages" and path[2] == "epochs"):
            raise ConfigError(f"{'.'.join(path)} cannot change when resuming (it would break exact resume)")
        config = merge(config, override_table(text), f"--set {text}")
    try:
        resolved = validate(registry, config)
    except ConfigError as exc:
        raise ConfigError(f"{Path(resume_dir) / ckpt.CONFIG_FILE}: {exc}") from None
    before = validate(registry, upgraded(document))
    if resolved.training.schedule == "cosine" and _stage_epochs(resolved) != _stage_epochs(before):
        # the cosine schedule spans a stage's epochs: a longer stage would change the rates already used
        raise ConfigError("a run with training.schedule = 'cosine' cannot change its epochs when resuming: the "
                          "schedule spans the stage's epochs; train a new run with the epochs you want")
    return resolved


def _stage_epochs(config) -> tuple[int, ...]:
    return (config.training.epochs, *(stage.epochs for stage in config.stages))


def read_data(config):
    """The run's dataset with both splits read, so that broken data is reported before a run folder exists."""
    from genkit.data import load_dataset

    dataset = load_dataset(config.data.name, tuple(config.model.input_shape))
    for split in ("train", "test"):
        dataset.split(split)
    return dataset


def check_fits(config, dataset, device) -> None:
    """Refuse, before the model is built, a model and batch that cannot fit in the device's memory."""
    from genkit.memory import check_model_fits

    images = len(dataset.split("train"))
    largest = max([config.training.batch_size, *(s.batch_size for s in config.stages if s.batch_size)])
    batch = max(1, min(largest, config.training.limit or images, images))  # a batch holds at most the split
    check_model_fits(config, batch, training=True, device=device)


def train_here(dist, config, out, resume_dir, progress: bool = True, echo: Echo = print,
               callbacks: Sequence[Any] = ()):
    """Train in this process (alone, or as one torchrun worker); the ``TrainResult``.

    Everything that can be checked (device, precision, data, model) is, by building the trainer,
    before the run folder exists; a new run that fails before its first checkpoint removes it again.
    """
    from genkit.run import checkpoint as ckpt
    from genkit.training.device import resolve_device
    from genkit.training.loop import Trainer

    def trainer_for(settings):
        dataset = read_data(settings)
        check_fits(settings, dataset, resolve_device(settings.training.device))
        return Trainer(settings, None, progress=progress, dist=dist, dataset=dataset, callbacks=callbacks)

    trainer = trainer_for(config)
    made: list[Path] = []  # the folders this process creates for a new run: undone if it fails to start
    run_dir, resume, chosen = choose_run_dir(dist, trainer.device, config, out, resume_dir, made, echo)
    if chosen is not config:  # a restarted torchrun worker continues the run it was training
        trainer = trainer_for(chosen)
    if dist.is_main:
        echo(f"training {chosen.recipe} on {chosen.data.name} into {run_dir}"
             + _batch_note(dist, chosen.training.batch_size))
    try:
        trainer.into(run_dir, resume).callbacks.check_outputs(trainer)  # every writer, before the first step
        return trainer.run()
    except BaseException as exc:
        from genkit.training.stop_signals import TrainingInterrupted

        if dist.is_main and not resume and not isinstance(exc, TrainingInterrupted):
            ckpt.discard_uncommitted(run_dir, made)
        raise


def choose_run_dir(dist, device, config, out, resume_dir, made: list[Path], echo: Echo) -> tuple[Path, bool, Any]:
    """The run folder, whether to resume it, and the configuration to train (rank 0 decides for all).

    A worker group that torchrun restarted after a failure resumes the folder it was training, with
    that run's own configuration. The folders rank 0 creates for a new run are added to ``made``.
    """
    from genkit.run import checkpoint as ckpt
    from genkit.training import distributed

    if resume_dir:
        return ckpt.prepare_resume_dir(resume_dir), True, config
    restarted = dist.active and distributed.restart_count() > 0
    if restarted:
        launch = distributed.launch_id()
        previous = Path(out) if out else (ckpt.find_launch_run("runs", launch) if launch else None)
        if previous is not None and ckpt.is_run_dir(previous):
            run_dir = ckpt.prepare_resume_dir(previous)
            if dist.is_main:
                echo(f"restart {distributed.restart_count()}: resuming {run_dir} from its last checkpoint")
            return run_dir, True, resolve_config(None, None, [], run_dir)

    def decide() -> str:
        folder, created = new_run_folder(config, out)
        made.extend(created)
        return str(folder)

    return Path(dist.decide_on_main(decide, device)), False, config


def new_run_folder(config, out) -> tuple[Path, list[Path]]:
    """Create the folder of a new run (``out``, or a fresh one under ./runs/) and list the folders made."""
    from genkit.files import atomic
    from genkit.files.outputs import check_output, spec_path
    from genkit.run import checkpoint as ckpt

    if out:
        # not inside what the run reads: an image folder would take the run's sample grids for data
        made = atomic.missing_folders(out)  # the run folder and the folders above it that check_output makes
        check_output(out, inputs=(spec_path(config.data.name),), what="run folder")
        return ckpt.prepare_run_dir(out), made
    made = atomic.missing_folders("runs")
    folder = ckpt.new_run_dir("runs", config.recipe)
    return folder, [folder, *made]


def launch_workers(config, recipe, config_file, sets: Sequence[str], out, resume_dir, progress: bool, nproc: int,
                   max_restarts: int) -> tuple[int, Path]:
    """Check what can be checked here, choose the run folder, then run ``nproc`` workers under torchrun.

    Returns the workers' exit code and the run folder.
    """
    import torch

    from genkit.run import checkpoint as ckpt
    from genkit.training.device import autocast, resolve_device
    from genkit.training.launch import launch
    from genkit.training.loop import Trainer
    from genkit.training.sharding import check_batch_size

    check_batch_size(config.training.batch_size, nproc)
    device = resolve_device(config.training.device)
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise ConfigError(f"--nproc {nproc} needs {nproc} GPUs; torch sees {torch.cuda.device_count()}")
    # Every worker would fail on broken data, an unbuildable model or a precision the device lacks, each
    # saying so: say it once, here. The trial trainer is built on the CPU; the GPUs are the workers'.
    autocast(device, config.training.precision)
    dataset = read_data(config)
    check_fits(config, dataset, device)
    Trainer(config.replace("training", device="cpu", precision="fp32"), None, progress=False, dataset=dataset)
    args: list[str] = []
    made: list[Path] = []
    if resume_dir:
        run_dir = ckpt.prepare_resume_dir(resume_dir)
        args += ["--resume", str(run_dir)]
    else:
        run_dir, made = new_run_folder(config, out)
        args += [recipe, "-o", str(run_dir)]
        if config_file:
            args += ["--config", str(Path(config_file).resolve())]
    for text in sets:
        args += ["--set", text]
    if not progress:
        args.append("--quiet")
    try:
        return launch(args, nproc, max_restarts, run_dir), run_dir
    finally:  # workers that failed before the first checkpoint leave a folder with nothing to resume
        if not resume_dir:
            ckpt.discard_uncommitted(run_dir, made)


def _batch_note(dist, batch: int) -> str:
    if not dist.active:
        return ""
    processes = f"{dist.world_size} process{'es' if dist.world_size > 1 else ''}"
    return f" ({processes} x {batch // dist.world_size} images = global batch {batch}, {dist.backend})"


def fast_overrides() -> list[str]:
    """``--fast``: the preset's settings as --set texts, to go before the user's own."""
    from genkit.config import FAST_TRAINING, toml_value

    return [f"training.{key}={toml_value(value)}" for key, value in FAST_TRAINING.items()]


def train(recipe: str | None = None, *, config: str | Path | None = None, overrides: Sequence[str] = (),
          out: str | Path | None = None, resume: str | Path | None = None, nproc: int | None = None,
          max_restarts: int = 0, fast: bool = False, progress: bool = True, callbacks: Sequence[Any] = (),
          echo: Echo = print):
    """Train ``recipe`` (or continue the run ``resume``) with the command line's guarantees; the ``TrainResult``.

    ``overrides`` are ``section.key=value`` texts as for ``--set``; ``config`` a TOML file. With ``nproc``
    the run trains in that many local processes under torchrun. Raises a ``genkit.errors.GenkitError``
    (one line) on bad settings, data or folders, and ``TrainingInterrupted`` when stopped by a signal.
    """
    from genkit.errors import TrainingError
    from genkit.training import distributed
    from genkit.training.device import resolve_device
    from genkit.training.loop import TrainResult

    if fast:
        if resume:
            raise ConfigError("fast chooses a new run's settings; a resumed run keeps its own")
        overrides = [*fast_overrides(), *overrides]
    settings = resolve_config(recipe, config, list(overrides), resume)
    if nproc is not None:
        if distributed.under_torchrun():
            raise ConfigError("--nproc starts torchrun itself; leave it out of a torchrun command line")
        code, run_dir = launch_workers(settings, recipe, config, list(overrides), out, resume, progress, nproc,
                                       max_restarts)
        if code:
            raise TrainingError(f"the workers training {run_dir} exited with code {code}; "
                                f"continue with --resume {run_dir}")
        from genkit.run import checkpoint as ckpt

        metrics = ckpt.read_metrics(run_dir)
        return TrainResult(run_dir, metrics[-1]["epoch"] if metrics else 0, metrics)
    if max_restarts:
        raise ConfigError("--max-restarts only applies with --nproc (or to torchrun itself)")
    dist = distributed.start(resolve_device(settings.training.device))
    return train_here(dist, settings, out, resume, progress, echo, callbacks)
