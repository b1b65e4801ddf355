"""``genkit plugins`` and ``genkit list``: what is installed and what it registered (no torch import)."""

from __future__ import annotations

import json

import click

from genkit.plugins import get_host
from genkit.registry import COMPONENT_KINDS


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def plugins_command(as_json: bool) -> None:
    """Show installed plugins: distribution, version, hooks, registrations and load errors."""
    host = get_host()
    infos = [info.as_dict() for info in host.plugins.values()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    if not infos:
        click.echo("No plugins installed.")
    for info in infos:
        dist = f"{info['distribution']} {info['version']}" if info["distribution"] else "(no distribution)"
        state = " [disabled]" if info["disabled"] else (" [ERROR]" if info["error"] else "")
        click.echo(f"{info['name']}{state}  ({dist}, {info['module']})")
        if info["hooks"]:
            click.echo(f"  hooks: {', '.join(info['hooks'])}")
        for kind, names in info["registered"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
        if info["error"]:
            click.echo(f"  error: {info['error']}")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def list_command(as_json: bool) -> None:
    """List the registered components per kind, the recipes and the datasets."""
    registry = get_host().registry
    if as_json:
        click.echo(json.dumps(registry.as_dict(), indent=2))
        return
    for kind in COMPONENT_KINDS:
        click.echo(f"{kind}s:")
        for entry in registry.components[kind].values():
            click.echo(f"  {entry.name:<22} {entry.description}  [{entry.plugin}]")
    click.echo("recipes:")
    for recipe in registry.recipes.values():
        parts = " + ".join(f"{kind}={name}" for kind, name in recipe.components().items())
        click.echo(f"  {recipe.name:<22} {parts}  [{recipe.plugin}]")
    click.echo("datasets:")
    for entry in registry.datasets.values():
        name = f"{entry.name}:PATH" if entry.takes_argument else entry.name
        click.echo(f"  {name:<22} {entry.description}  [{entry.plugin}]")
