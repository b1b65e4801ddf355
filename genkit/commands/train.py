"""``genkit train``: resolve a recipe's configuration and run the one training loop."""

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
              help="Override one setting, e.g. --set encoder.filters=[32,64,64,64] (repeatable).")
@click.option("--epochs", type=int, help="Number of epochs (with --resume: the new total).")
@click.option("--batch-size", type=int)
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--seed", type=int, help="Seed: the same seed gives the same run.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]))
@click.option("--limit", type=int, help="Train on the first N training images.")
@click.option("--data", help="Dataset: fashion-mnist, mnist, folder:PATH, npz:PATH (see `genkit list`).")
@click.option("--checkpoint-every", type=int, help="Also checkpoint every N steps within an epoch.")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Run folder (default: a new one under ./runs/).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the run in this folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_command(recipe, config_file, overrides, resume_dir, out, quiet, **shortcuts):
    """Train RECIPE (e.g. `vae`, `ae`) into a run folder, or continue one with --resume RUN."""
    from genkit import checkpoint as ckpt
    from genkit.config import build_config, merge, validate
    from genkit.errors import ConfigError
    from genkit.plugins import get_registry
    from genkit.training import train

    registry = get_registry()
    sets = list(overrides) + [f"{SHORTCUTS[k]}={_toml(v)}" for k, v in shortcuts.items() if v is not None]
    if resume_dir:
        document = ckpt.read_config(resume_dir)
        if recipe and recipe != document["recipe"]:
            raise ConfigError(f"{resume_dir} is a run of recipe {document['recipe']!r}, not {recipe!r}")
        if config_file:
            raise ConfigError("--config cannot change a run being resumed; use --set for what may change")
        config = document["config"]
        for text in sets:
            from genkit.config import parse_override

            (section, key), value = parse_override(text)
            if (section, key) not in {("training", "epochs"), ("training", "device"), ("data", "workers"),
                                      ("training", "threads"), ("training", "checkpoint_every")}:
                raise ConfigError(f"{section}.{key} cannot change when resuming (it would break exact resume)")
            config = merge(config, {section: {key: value}}, f"--set {text}")
        config = validate(registry, config)
        run_dir = ckpt.prepare_resume_dir(resume_dir)
    else:
        if not recipe:
            raise click.UsageError("name a recipe to train (see `genkit list`), or --resume RUN")
        config = build_config(registry, recipe, config_file, sets)
        run_dir = ckpt.prepare_run_dir(out) if out else ckpt.new_run_dir("runs", recipe)
    click.echo(f"training {config['recipe']} on {config['data']['name']} into {run_dir}", err=True)
    result = train(config, run_dir, resume=bool(resume_dir), progress=not quiet)
    last = result.metrics[-1]["test"] if result.metrics else {}
    click.echo(f"run saved to {run_dir}" + (f" (test loss {last['loss']:.4f})" if "loss" in last else ""))


def _toml(value) -> str:
    """A shortcut option's value as TOML, so it goes through the same parser as --set."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
