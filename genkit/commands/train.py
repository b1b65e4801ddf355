"""``genkit train``: resolve a recipe's configuration and run the one training loop.

The same command runs a single process, each worker of a torchrun launch (``torchrun ... -m genkit
train ...``), and, with ``--nproc N``, the launch itself. In a torchrun launch rank 0 alone chooses
and creates the run folder; a worker that torchrun restarted after a failure resumes from the run's
last checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import click

# Shortcut options: each is sugar for one ``--set section.key=value``.
SHORTCUTS = {
    "epochs": "training.epochs", "batch_size": "training.batch_size", "lr": "training.lr",
    "seed": "training.seed", "device": "training.device", "precision": "training.precision",
    "limit": "training.limit", "data": "data.name", "checkpoint_every": "training.checkpoint_every",
}

# What --resume may change: nothing that would make the resumed run differ from an uninterrupted one.
RESUMABLE = {("training", "epochs"), ("training", "device"), ("data", "workers"), ("training", "threads"),
             ("training", "checkpoint_every")}


@click.command("train")
@click.argument("recipe", required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file of settings.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one setting, e.g. --set encoder.filters=[32,64,64,64] (repeatable).")
@click.option("--epochs", type=int, help="Number of epochs (with --resume: the new total).")
@click.option("--batch-size", type=int, help="Images per step, over all processes together.")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--seed", type=int, help="Seed: the same seed gives the same run.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]))
@click.option("--limit", type=int, help="Train on the first N training images.")
@click.option("--data", help="Dataset: fashion-mnist, mnist, folder:PATH, npz:PATH (see `genkit list`).")
@click.option("--checkpoint-every", type=int, help="Also checkpoint every N steps within an epoch.")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Run folder (default: a new one under ./runs/).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the run in this folder.")
@click.option("--nproc", type=click.IntRange(min=1),
              help="Train in N processes on this machine (torchrun, DDP); the batch size stays global.")
@click.option("--max-restarts", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --nproc: restart failed workers up to N times; they resume from the last checkpoint.")
@click.option("--fast", is_flag=True,
              help="The fastest measured CPU configuration: bf16 autocast, channels-last, fused Adam (for CPUs "
                   "with AVX512_BF16 or AMX; on an H100 the small vae measured faster in fp32); --set and "
                   "--precision still override it.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train_command(ctx, recipe, config_file, overrides, resume_dir, out, quiet, nproc, max_restarts, fast,
                  **shortcuts):
    """Train RECIPE (e.g. `vae`, `ae`) into a run folder, or continue one with --resume RUN.

    Ctrl-C stops at the next step, writes a checkpoint and exits with code 130.
    """
    from genkit import distributed
    from genkit.errors import GenkitError
    from genkit.training import resolve_device

    if fast:
        if resume_dir:
            raise click.UsageError("--fast chooses a new run's settings; a resumed run keeps its own")
        from genkit.config import FAST_TRAINING

        # First, so that the user's own --set and shortcut options win over the preset.
        overrides = (*(f"training.{key}={_toml(value)}" for key, value in FAST_TRAINING.items()), *overrides)
    sets = list(overrides) + [f"{SHORTCUTS[k]}={_toml(v)}" for k, v in shortcuts.items() if v is not None]
    config = resolve_config(recipe, config_file, sets, resume_dir)
    if nproc is not None:
        if distributed.under_torchrun():
            raise click.UsageError("--nproc starts torchrun itself; leave it out of a torchrun command line")
        ctx.exit(launch_workers(config, recipe, config_file, overrides, shortcuts, out, resume_dir, quiet,
                                nproc, max_restarts))
    if max_restarts:
        raise click.UsageError("--max-restarts only applies with --nproc (or to torchrun itself)")

    dist = distributed.start(resolve_device(config["training"]["device"]))
    if not dist.active:
        ctx.exit(train_here(dist, config, out, resume_dir, quiet))
    try:  # a torchrun worker
        code = train_here(dist, config, out, resume_dir, quiet)
    except GenkitError as exc:
        from genkit.cli import debug_enabled

        if debug_enabled():
            raise
        click.echo(f"Error: {exc}" if dist.is_main else f"Error: [rank {dist.rank}] {exc}", err=True)
        code = 1
    except RuntimeError as exc:
        if not distributed.lost_peer(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"Error: [rank {dist.rank}] stopped: another worker went away ({first[:200]}); "
                   f"torchrun restarts the workers if --max-restarts allows", err=True)
        code = 1
    distributed.stop(dist)
    distributed.exit_process(code)


def train_here(dist, config, out, resume_dir, quiet) -> int:
    """Train in this process (alone, or as one torchrun worker); the exit code.

    Everything that can be checked (device, precision, data, model) is, by building the trainer,
    before the run folder exists; a new run that fails before its first checkpoint removes it again.
    """
    from genkit import checkpoint as ckpt
    from genkit.training import Trainer, TrainingInterrupted

    def trainer_for(settings):
        return Trainer(settings, None, progress=not quiet, dist=dist, dataset=read_data(settings))

    trainer = trainer_for(config)
    made: list[Path] = []  # the folders this process creates for a new run: undone if it fails to start
    run_dir, resume, chosen = choose_run_dir(dist, trainer.device, config, out, resume_dir, made)
    if chosen is not config:  # a restarted torchrun worker continues the run it was training
        trainer = trainer_for(chosen)
    if dist.is_main:
        click.echo(f"training {chosen['recipe']} on {chosen['data']['name']} into {run_dir}"
                   + _batch_note(dist, chosen["training"]["batch_size"]), err=True)
    try:
        result = trainer.into(run_dir, resume).run()
    except TrainingInterrupted as exc:
        if dist.is_main:
            click.echo(str(exc), err=True)
        return exc.exit_code
    except BaseException:
        if dist.is_main and not resume:
            ckpt.discard_uncommitted(run_dir, made)
        raise
    if dist.is_main:
        last = result.metrics[-1]["test"] if result.metrics else {}
        click.echo(f"run saved to {run_dir}" + (f" (test loss {last['loss']:.4f})" if "loss" in last else ""))
    return 0


def read_data(config):
    """The run's dataset with both splits read, so that broken data is reported before a run folder exists."""
    from genkit.data import load_dataset

    dataset = load_dataset(config["data"]["name"], tuple(config["model"]["input_shape"]))
    for split in ("train", "test"):
        dataset.split(split)
    return dataset


def resolve_config(recipe, config_file, sets, resume_dir) -> dict:
    """The validated configuration: the recipe's with the user's settings, or the resumed run's own."""
    from genkit import checkpoint as ckpt
    from genkit.config import build_config, merge, parse_override, validate
    from genkit.errors import ConfigError
    from genkit.plugins import get_registry

    registry = get_registry()
    if not resume_dir:
        if not recipe:
            raise click.UsageError("name a recipe to train (see `genkit list`), or --resume RUN")
        return build_config(registry, recipe, config_file, sets)
    document = ckpt.read_config(resume_dir)
    if recipe and recipe != document["recipe"]:
        raise ConfigError(f"{resume_dir} is a run of recipe {document['recipe']!r}, not {recipe!r}")
    if config_file:
        raise ConfigError("--config cannot change a run being resumed; use --set for what may change")
    config = document["config"]
    for text in sets:
        (section, key), value = parse_override(text)
        if (section, key) not in RESUMABLE:
            raise ConfigError(f"{section}.{key} cannot change when resuming (it would break exact resume)")
        config = merge(config, {section: {key: value}}, f"--set {text}")
    try:
        return validate(registry, config)
    except ConfigError as exc:
        raise ConfigError(f"{Path(resume_dir) / ckpt.CONFIG_FILE}: {exc}") from None


def choose_run_dir(dist, device, config, out, resume_dir, made: list[Path]) -> tuple[Path, bool, dict]:
    """The run folder, whether to resume it, and the configuration to train (rank 0 decides for all).

    A worker group that torchrun restarted after a failure resumes the folder it was training, with
    that run's own configuration. The folders rank 0 creates for a new run are added to ``made``.
    """
    from genkit import checkpoint as ckpt
    from genkit import distributed

    if resume_dir:
        return ckpt.prepare_resume_dir(resume_dir), True, config
    restarted = dist.active and distributed.restart_count() > 0
    if restarted:
        launch = distributed.launch_id()
        previous = Path(out) if out else (ckpt.find_launch_run("runs", launch) if launch else None)
        if previous is not None and ckpt.is_run_dir(previous):
            run_dir = ckpt.prepare_resume_dir(previous)
            if dist.is_main:
                click.echo(f"restart {distributed.restart_count()}: resuming {run_dir} from its last checkpoint",
                           err=True)
            return run_dir, True, resolve_config(None, None, [], run_dir)

    def decide() -> str:
        folder, created = new_run_folder(config, out)
        made.extend(created)
        return str(folder)

    return Path(dist.decide_on_main(decide, device)), False, config


def new_run_folder(config, out) -> tuple[Path, list[Path]]:
    """Create the folder of a new run (``out``, or a fresh one under ./runs/) and list the folders made."""
    from genkit import atomic
    from genkit import checkpoint as ckpt
    from genkit.outputs import check_output, spec_path

    if out:
        # not inside what the run reads: an image folder would take the run's sample grids for data
        check_output(out, inputs=(spec_path(config["data"]["name"]),), what="run folder")
        made = atomic.missing_folders(out)
        return ckpt.prepare_run_dir(out), made
    made = atomic.missing_folders("runs")
    folder = ckpt.new_run_dir("runs", config["recipe"])
    return folder, [folder, *made]


def launch_workers(config, recipe, config_file, overrides, shortcuts, out, resume_dir, quiet, nproc,
                   max_restarts) -> int:
    """Check what can be checked here, choose the run folder, then run ``nproc`` workers under torchrun."""
    import torch

    from genkit import checkpoint as ckpt
    from genkit.launch import launch
    from genkit.sharding import check_batch_size
    from genkit.training import Trainer, autocast, resolve_device

    check_batch_size(config["training"]["batch_size"], nproc)
    device = resolve_device(config["training"]["device"])
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise click.UsageError(f"--nproc {nproc} needs {nproc} GPUs; torch sees {torch.cuda.device_count()}")
    # Every worker would fail on broken data, an unbuildable model or a precision the device lacks, each
    # saying so: say it once, here. The trial trainer is built on the CPU; the GPUs are the workers'.
    autocast(device, config["training"]["precision"])
    Trainer({**config, "training": {**config["training"], "device": "cpu", "precision": "fp32"}}, None,
            progress=False, dataset=read_data(config))
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
    for text in overrides:
        args += ["--set", text]
    for name, value in shortcuts.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", str(value)]
    if quiet:
        args.append("--quiet")
    try:
        return launch(args, nproc, max_restarts, run_dir)
    finally:  # workers that failed before the first checkpoint leave a folder with nothing to resume
        if not resume_dir:
            ckpt.discard_uncommitted(run_dir, made)


def _batch_note(dist, batch: int) -> str:
    if not dist.active:
        return ""
    processes = f"{dist.world_size} process{'es' if dist.world_size > 1 else ''}"
    return f" ({processes} x {batch // dist.world_size} images = global batch {batch}, {dist.backend})"


def _toml(value) -> str:
    """A shortcut option's value as TOML, so it goes through the same parser as --set."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
