"""``genkit summary RECIPE``: layers, output shapes, parameter counts and settings of a recipe's model."""

from __future__ import annotations

import json

import click

from genkit.contract.host import get_registry


@click.command("summary")
@click.argument("recipe")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one setting, e.g. --set model.latent_shape=16 (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE.toml", default=None,
              help="A TOML file of settings applied over the recipe's defaults.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables.")
def summary_command(recipe: str, overrides: tuple[str, ...], config_file: str | None, as_json: bool) -> None:
    """Print RECIPE's layers, output shapes and parameter counts per component, like Keras' summary().

    The model is built exactly as `genkit train` would build it, with the same settings, which are
    printed with each component (their defaults and help texts: `genkit list --settings`). Spatial
    latents and the class condition of a conditional recipe show in the output shapes.
    """
    from genkit.summary import format_summary, summarize_recipe  # imports torch

    summary = summarize_recipe(get_registry(), recipe, config_file, overrides)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
