"""``genkit train``: resolve a recipe's configuration and run the one training loop.

The same command runs a single process, each worker of a torchrun launch (``torchrun ... -m genkit
train ...``), and, with ``--nproc N``, the launch itself. In a torchrun launch rank 0 alone chooses
and creates the run folder; a worker that torchrun restarted after a failure resumes from the run's
last checkpoint.
"""

from __future__ import annotations

import click

# Shortcut options: each is sugar for one ``--set section.key=value``.
SHORTCUTS = {
    "epochs": "training.epochs", "batch_size": "training.batch_size", "lr": "training.lr",
    "seed": "training.seed", "device": "training.device", "precision": "training.precision",
    "limit": "training.limit", "data": "data.name", "checkpoint_every": "training.checkpoint_every",
}


@click.command("train")
@click.argument("recipe", required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file of settings.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one setting, e.g. --set encoder.filters=[32,64,64,64]; --set model.loss=NAME (or "
                   "model.encoder, model.sampler, model.decoder) swaps that part for another registered one "
                   "(repeatable; `genkit list --settings` shows them all).")
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
@click.option("--log", "logs", multiple=True, type=click.Choice(["tensorboard"]),
              help="Also log to TensorBoard event files in RUN/tensorboard/ (needs pip install "
                   "\"genkit[tensorboard]\"; repeatable for other logs).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train_command(ctx, recipe, config_file, overrides, resume_dir, out, quiet, nproc, max_restarts, fast, logs,
                  **shortcuts):
    """Train RECIPE (e.g. `vae`, `ae`) into a run folder, or continue one with --resume RUN.

    Ctrl-C stops at the next step, writes a checkpoint and exits with code 130.
    """
    from genkit.config import toml_value
    from genkit.errors import GenkitError
    from genkit.training import TrainingInterrupted, distributed, runs

    if not recipe and not resume_dir:
        raise click.UsageError("name a recipe to train (see `genkit list`), or --resume RUN")
    if fast and resume_dir:
        raise click.UsageError("--fast chooses a new run's settings; a resumed run keeps its own")
    if nproc is not None and distributed.under_torchrun():
        raise click.UsageError("--nproc starts torchrun itself; leave it out of a torchrun command line")
    if max_restarts and nproc is None:
        raise click.UsageError("--max-restarts only applies with --nproc (or to torchrun itself)")
    if logs:
        overrides = (*overrides, f"training.log={toml_value(list(logs))}")
    sets = [*(runs.fast_overrides() if fast else []), *overrides,
            *(f"{SHORTCUTS[k]}={toml_value(v)}" for k, v in shortcuts.items() if v is not None)]
    echo = (lambda line: click.echo(line, err=True))
    if nproc is not None:
        config = runs.resolve_config(recipe, config_file, sets, resume_dir)
        code, _ = runs.launch_workers(config, recipe, config_file, sets, out, resume_dir, not quiet, nproc,
                                      max_restarts)
        ctx.exit(code)
    if not distributed.under_torchrun():
        try:
            result = runs.train(recipe, config=config_file, overrides=sets, out=out, resume=resume_dir,
                                progress=not quiet, echo=echo)
        except TrainingInterrupted as exc:
            click.echo(str(exc), err=True)
            ctx.exit(exc.exit_code)
        ctx.exit(_report(result))
    # a torchrun worker: every rank reports its own failure, and the process group is torn down
    config = runs.resolve_config(recipe, config_file, sets, resume_dir)
    from genkit.training.device import resolve_device

    dist = distributed.start(resolve_device(config.training.device))
    try:
        result = runs.train_here(dist, config, out, resume_dir, not quiet, echo)
        code = _report(result) if dist.is_main else 0
    except TrainingInterrupted as exc:
        if dist.is_main:
            click.echo(str(exc), err=True)
        code = exc.exit_code
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


def _report(result) -> int:
    last = result.metrics[-1]["test"] if result.metrics else {}
    click.echo(f"run saved to {result.run_dir}" + (f" (test loss {last['loss']:.4f})" if "loss" in last else ""))
    return 0
