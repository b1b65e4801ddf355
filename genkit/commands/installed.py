"""``genkit plugins`` and ``genkit list``: what is installed and what it registered (no torch import)."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import click

from genkit import __version__
from genkit.contract.hookspecs import API_VERSION
from genkit.contract.host import get_host
from genkit.contract.registry import COMPONENT_KINDS
from genkit.errors import GenkitError

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
    click.echo(f"genkit {__version__}, plugin API {API_VERSION}")
    if not infos:
        click.echo("No plugins installed.")
    for info in infos:
        dist = f"{info['distribution']} {info['version']}" if info["distribution"] else "(no distribution)"
        state = " [disabled]" if info["disabled"] else (" [ERROR]" if info["error"] else "")
        click.echo(f"{info['name']}{state}  ({dist}, {info['module']})")
        if info["api"]:
            click.echo(f"  plugin API: {info['api']}")
        if info["hooks"]:
            click.echo(f"  hooks: {', '.join(info['hooks'])}")
        for kind, names in info["registered"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
        for warning in info["warnings"]:
            click.echo(f"  warning: {warning}")
        if info["error"]:
            click.echo(f"  error: {info['error']}")
    if any(info["error"] for info in infos):
        click.echo("A plugin with an error is skipped: hide it with GENKIT_DISABLE_PLUGINS=NAME, "
                   "see why with `genkit --debug plugins`.")


def _section(title: str, rows: list[tuple[str, str, str]], details: dict[str, list[str]] | None = None) -> None:
    click.echo(f"{title}:")
    if not rows:
        click.echo("  (none)")
    for name, text, plugin in rows:
        click.echo(f"  {name:<22} {text}  [{plugin}]")
        for line in (details or {}).get(name, ()):
            click.echo(f"      {line}")


def describe_settings(schema: type) -> list[dict[str, Any]]:
    """A ``Settings`` dataclass as rows: name, type, default and help text (what `--set` accepts)."""
    from genkit.config.fields import type_name  # the wording validation errors use

    hints = typing.get_type_hints(schema)
    rows = []
    for f in dataclasses.fields(schema):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        rows.append({"name": f.name, "type": type_name(hints[f.name]), "default": default,
                     "help": f.metadata.get("help", "")})
    return rows


def _component_settings(registry, kind: str, name: str) -> list[dict[str, Any]] | str:
    """The component's settings rows, or why its class cannot be imported."""
    try:
        return describe_settings(registry.component_class(kind, name).Settings)
    except GenkitError as exc:
        return f"cannot be imported: {exc}"


def _setting_lines(rows: list[dict[str, Any]] | str, prefix: str = "") -> list[str]:
    if isinstance(rows, str):
        return [rows]
    if not rows:
        return ["(no settings)"]
    return [f"{prefix}{r['name']} = {json.dumps(r['default'], default=str)}  ({r['type']}) {r['help']}".rstrip()
            for r in rows]


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
@click.option("--settings", "show_settings", is_flag=True,
              help="Also show each component's settings (name, default, type, help text), each recipe's own "
                   "defaults and the model, training and data sections' settings; imports the plugins' modules.")
def list_command(as_json: bool, show_settings: bool) -> None:
    """List the registered components per kind, the recipes and the datasets.

    With --settings every component's settings follow it, as `--set KIND.SETTING=VALUE` takes them
    (e.g. `--set encoder.filters=[16,32,32,32]`), with their defaults and help texts, every recipe's
    overrides of those defaults follow the recipe, and the settings of the model, training and data
    sections follow the datasets (e.g. `--set training.epochs=3`, `--set model.sampler=deterministic`).
    """
    registry = get_host().registry
    settings = {kind: {name: _component_settings(registry, kind, name) for name in registry.components[kind]}
                for kind in COMPONENT_KINDS} if show_settings else {}
    if as_json:
        document = registry.as_dict()
        for kind, entries in document["components"].items():
            for entry in entries:
                if kind in settings:
                    rows = settings[kind][entry["name"]]
                    entry["settings"] = rows if isinstance(rows, list) else {"error": rows}
        if show_settings:
            document["settings"] = core_settings()
        click.echo(json.dumps(document, indent=2, default=str))
        return
    for kind in COMPONENT_KINDS:
        _section(PLURALS[kind], [(e.name, e.description, e.plugin) for e in registry.components[kind].values()],
                 {name: _setting_lines(rows, f"{kind}.") for name, rows in settings.get(kind, {}).items()})
    _section("recipes", [
        (r.name, " + ".join(f"{kind}={name}" for kind, name in r.components().items()), r.plugin)
        for r in registry.recipes.values()
    ], {r.name: _recipe_lines(r) for r in registry.recipes.values()} if show_settings else None)
    _section("datasets", [
        (e.usage, e.description, e.plugin)
        for e in registry.datasets.values()
    ])
    for section, rows in (core_settings() if show_settings else {}).items():
        click.echo(f"{section} settings:")
        for line in _setting_lines(rows, f"{section}."):
            click.echo(f"  {line}")


def core_settings() -> dict[str, list[dict[str, Any]]]:
    """The settings of the sections every run has (model, training, data), as ``describe_settings`` rows."""
    from genkit.config.sections import CORE_SECTIONS

    return {section: describe_settings(schema) for section, schema in CORE_SECTIONS.items()}


def _recipe_lines(recipe) -> list[str]:
    """A recipe's shapes, condition, stages, players and its overrides of the components' and training defaults."""
    lines = [f"model.input_shape = {list(recipe.input_shape)}, model.latent_shape = {list(recipe.latent_shape)}, "
             f"model.classes = {recipe.classes}"]
    lines += [f"{section}.{key} = {json.dumps(value, default=str)}"
              for section, values in recipe.settings.items() for key, value in values.items()]
    lines += [f"stage {stage['name']}: {json.dumps(stage, default=str)}" for stage in recipe.stages]
    lines += [f"player {player['name']}: {json.dumps(player, default=str)}" for player in recipe.players]
    if recipe.generator_only:
        lines.insert(0, "generator-only: no encoder; the decoder draws from the prior")
    return lines
