"""A run's configuration resolved: recipe defaults, a TOML file and ``--set`` overrides, merged and validated."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from pathlib import Path
from typing import Any

from genkit.config.fields import validate_section
from genkit.config.schedules import flatten as flatten_schedules
from genkit.config.schedules import parse_schedules
from genkit.config.sections import CORE_SECTIONS, NoSettings, PlayerSettings, RunConfig, StageSettings
from genkit.contract.registry import COMPONENT_KINDS, NO_ENCODER, Recipe, Registry
from genkit.deprecation import warn_deprecated
from genkit.errors import ConfigError


def toml_value(value: Any) -> str:
    """A value as TOML text, so it goes through the same parser as ``--set`` (strings quoted and escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` (or ``stages.NAME.key=value``, ``schedules.loss.NAME={...}``) with the value read as
    TOML (a bare word is a string)."""
    key, sep, raw = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    depth = 3 if path[0] in NAMED_TABLES + ("schedules",) else 2
    if path[:2] == ["schedules", "players"]:  # schedules.players.PLAYER.SETTING
        depth = 4
    if not sep or len(path) != depth or not all(path):
        raise ConfigError(f"--set {text!r} is not of the form section.key=value (e.g. training.lr=1e-3, or "
                          f"stages.NAME.key=value for a stage)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def recipe_defaults(recipe: Recipe) -> dict[str, Any]:
    """The recipe as a raw configuration: its component names, shapes, condition, settings and stages."""
    config: dict[str, Any] = {"recipe": recipe.name,
                              "model": {**recipe.components(), "input_shape": list(recipe.input_shape),
                                        "latent_shape": list(recipe.latent_shape), "classes": recipe.classes}}
    for section, values in recipe.settings.items():
        config[section] = dict(values)
    config["stages"] = {stage["name"]: dict(stage) for stage in recipe.stages}
    config["players"] = {player["name"]: dict(player) for player in recipe.players}
    return config


def stage_tables(stages: Any) -> Any:
    """Stages (or players) by name; ``to_dict`` writes them as a list of tables in order (anything else is left
    to validation)."""
    if stages is None:
        return {}
    if isinstance(stages, list):
        return {s.get("name", "") if isinstance(s, dict) else "": dict(s) if isinstance(s, dict) else s
                for s in stages}
    return {k: dict(v) if isinstance(v, dict) else v for k, v in stages.items()} if isinstance(stages, dict) else stages


NAMED_TABLES = ("stages", "players")  # sections that hold one table per named stage or player, in order
SECTIONS = ("recipe", *CORE_SECTIONS, *COMPONENT_KINDS, *NAMED_TABLES, "schedules")


def merge(base: dict[str, Any], extra: dict[str, Any], origin: str) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in extra.items():
        if key not in SECTIONS:
            close = difflib.get_close_matches(key, SECTIONS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ConfigError(f"unknown section [{key}] in {origin}{hint} Sections: {', '.join(SECTIONS)}")
        if key == "recipe":
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"[{key}] in {origin} must be a table of settings, got {value!r}")
        if key == "schedules":  # by setting: a second --set schedules.loss.X adds to the first
            out["schedules"] = {**flatten_schedules(out.get("schedules") or {}), **flatten_schedules(value)}
            continue
        if key in NAMED_TABLES:
            tables = out[key] = stage_tables(out.get(key))
            what = key[:-1]
            for name, settings in value.items():
                if name not in tables:
                    known = ", ".join(tables) or "none"
                    raise ConfigError(f"unknown {what} {name!r} in {origin}; this recipe's {key}: {known}")
                if not isinstance(settings, dict):
                    raise ConfigError(f"[{key}.{name}] in {origin} must be a table of settings, got {settings!r}")
                tables[name] = {**tables[name], **settings}
            continue
        out.setdefault(key, {}).update(value)
    return out


def build_config(registry: Registry, recipe_name: str, file: str | Path | None = None,
                 overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Resolve and validate the configuration of a run of ``recipe_name``."""
    user: dict[str, Any] = read_toml(file) if file else {}
    if user.get("recipe") not in (None, recipe_name):
        raise ConfigError(f"config file {file} is for recipe {user['recipe']!r}, not {recipe_name!r}")
    recipe = registry.recipe(recipe_name)
    layers = [(_latent_of_0_1(user, str(file)), str(file)),
              *((_latent_of_0_1(override_table(text), f"--set {text}"), f"--set {text}") for text in overrides)]
    config = recipe_defaults(recipe)
    for table, origin in layers:
        config = merge(config, table, origin)
    return validate(registry, _without_swapped_defaults(registry, config, recipe, [table for table, _ in layers]))


def _latent_of_0_1(table: dict[str, Any], origin: str) -> dict[str, Any]:
    """0.1's ``model.z_dim = N`` is today's ``model.latent_shape = [N]``."""
    model = table.get("model")
    if not (isinstance(model, dict) and "z_dim" in model):
        return table
    if "latent_shape" in model:
        raise ConfigError(f"{origin} sets both model.z_dim and model.latent_shape; set model.latent_shape only")
    warn_deprecated("the setting model.z_dim", "model.latent_shape", where=origin)
    return {**table, "model": {("latent_shape" if k == "z_dim" else k): v for k, v in model.items()}}


def _without_swapped_defaults(registry: Registry, config: dict[str, Any], recipe: Recipe,
                              user_tables: list[dict[str, Any]]) -> dict[str, Any]:
    """A part swapped with ``model.KIND=NAME`` keeps the settings the recipe gave the part it replaced only where
    the new part has them too (``r_loss_factor`` from one loss to another); the others were for another class
    and are dropped. What the user set for the section is kept, and validated against the new part."""
    out = dict(config)
    for kind in COMPONENT_KINDS:
        name = config.get("model", {}).get(kind)
        if name == getattr(recipe, kind) or not isinstance(name, str) or name == NO_ENCODER:
            continue
        accepted = {f.name for f in dataclasses.fields(registry.component_class(kind, name).Settings)}
        mine = {key for table in user_tables if isinstance(table.get(kind), dict) for key in table[kind]}
        out[kind] = {key: value for key, value in config.get(kind, {}).items()
                     if key in mine or key in accepted or key not in recipe.settings.get(kind, {})}
    return out


def override_table(text: str) -> dict[str, Any]:
    """``--set`` text as the nested table it overrides."""
    path, value = parse_override(text)
    table: Any = value
    for part in reversed(path):
        table = {part: table}
    return table


def _validate_named(registry: Registry, schema: type, section: str, name: str, values: Any,
                    own_loss: str | None = None) -> Any:
    """One stage's or player's table: its fields, the modules it trains and its loss's settings (``own_loss`` is
    the model's loss, which a player with no loss of its own minimises)."""
    where, what = f"{section}.{name}", section[:-1]
    if not isinstance(values, dict):
        raise ConfigError(f"[{where}] must be a table of settings, got {values!r}")
    loss_settings = values.get("loss_settings") or {}
    plain = validate_section(schema, {k: v for k, v in values.items() if k != "loss_settings"}, where)
    if plain["name"] != name:
        raise ConfigError(f"{where}.name is {plain['name']!r}; a {what}'s name is its table's name ({name!r})")
    if not plain["trains"]:
        raise ConfigError(f"{where}.trains names no module: say which of the model's modules the {what} trains")
    if not plain["loss"] and own_loss is not None:
        if loss_settings:
            raise ConfigError(f"{where}.loss_settings is set but the {what} minimises the model's own loss: set "
                              f"that in [loss]")
        plain["loss_settings"] = None
        return schema(**plain)
    cls = registry.component_class("loss", plain["loss"])
    plain["loss_settings"] = cls.Settings(**validate_section(cls.Settings, loss_settings, f"{where}.loss_settings"))
    return schema(**plain)


def _check_players(players: tuple[PlayerSettings, ...], training: Any) -> None:
    """Each module in one player at most (a path inside another player's path counts as in both); a cosine
    schedule falls from each player's lr to training.min_lr, so no player's lr may be below it."""
    owner: dict[str, str] = {}
    for player in players:
        lr = training.lr if player.lr is None else player.lr
        if (player.schedule or training.schedule) == "cosine" and training.min_lr > lr:
            raise ConfigError(f"players.{player.name}.lr ({lr:g}) is below training.min_lr ({training.min_lr:g}): the "
                              f"cosine schedule falls from a player's lr to min_lr; set min_lr <= every player's lr")
        for path in player.trains:
            for other, name in owner.items():
                if path == other or path.startswith(other + ".") or other.startswith(path + "."):
                    raise ConfigError(f"players.{player.name}.trains names {path!r}, which player {name!r} trains "
                                      f"too ({other!r}): each module belongs to one player")
            owner[path] = player.name


def validate(registry: Registry, config: dict[str, Any]) -> RunConfig:
    """Validate a raw configuration (a recipe's, a file's, a run folder's) into a ``RunConfig``."""
    if isinstance(config, RunConfig):
        config = config.to_dict()
    sections: dict[str, Any] = {}
    for section, schema in CORE_SECTIONS.items():
        sections[section] = schema(**validate_section(schema, config.get(section, {}), section))
    for kind in COMPONENT_KINDS:
        name = getattr(sections["model"], kind)
        if kind == "encoder" and name == NO_ENCODER:  # a generator-only model
            sections[kind] = NoSettings(**validate_section(NoSettings, config.get(kind, {}), kind))
            continue
        cls = registry.component_class(kind, name)
        sections[kind] = cls.Settings(**validate_section(cls.Settings, config.get(kind, {}), kind))
    for section, schema in (("stages", StageSettings), ("players", PlayerSettings)):
        tables = stage_tables(config.get(section))
        if not isinstance(tables, dict):
            raise ConfigError(f"{section} must be a table of {section[:-1]} tables, got {tables!r}")
        sections[section] = tuple(_validate_named(registry, schema, section, name, values,
                                                  sections["model"].loss if section == "players" else None)
                                  for name, values in tables.items())
    _check_players(sections["players"], sections["training"])
    owners = {"loss": type(sections["loss"]),
              **{f"players.{p.name}": type(p.loss_settings) for p in sections["players"] if p.loss}}
    sections["schedules"] = parse_schedules(config.get("schedules", {}), owners)
    return RunConfig(recipe=str(config.get("recipe", "")), **sections)
