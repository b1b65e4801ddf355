"""``genkit plugins`` and ``genkit list``: what is installed and what it registered (no torch import)."""

from __future__ import annotations

import json

import click

from genkit.plugins import get_host
from genkit.registry import COMPONENT_KINDS

PLURALS = {"encoder": "encoders", "sampler": "samplers", "decoder": "decoders", "loss": "losses"}


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list of plugins) instead of text.")
def plugins_command(as_json: bool) -> None:
    """Show installed plugins: distribution, version, hooks, registrations and load errors."""
    host = get_host()
    root = click.get_current_context().find_root().command
    if hasattr(root, "load_plugin_commands"):  # so that the commands plugins add are reported too
        root.load_plugin_commands()
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
    if any(info["error"] for info in infos):
        click.echo("A plugin with an error is skipped: hide it with GENKIT_DISABLE_PLUGINS=NAME, "
                   "see why with `genkit --debug plugins`.")


def _section(title: str, rows: list[tuple[str, str, str]]) -> None:
    click.echo(f"{title}:")
    if not rows:
        click.echo("  (none)")
    for name, text, plugin in rows:
        click.echo(f"  {name:<22} {text}  [{plugin}]")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
def list_command(as_json: bool) -> None:
    """List the registered components per kind, the recipes and the datasets."""
    registry = get_host().registry
    if as_json:
        click.echo(json.dumps(registry.as_dict(), indent=2))
        return
    for kind in COMPONENT_KINDS:
        _section(PLURALS[kind], [(e.name, e.description, e.plugin) for e in registry.components[kind].values()])
    _section("recipes", [
        (r.name, " + ".join(f"{kind}={name}" for kind, name in r.components().items()), r.plugin)
        for r in registry.recipes.values()
    ])
    _section("datasets", [
        (f"{e.name}:PATH" if e.takes_argument else e.name, e.description, e.plugin)
        for e in registry.datasets.values()
    ])
