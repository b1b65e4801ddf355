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
from genkit.config.sections import CORE_SECTIONS, RunConfig, StageSettings
from genkit.contract.registry import COMPONENT_KINDS, Recipe, Registry
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
    depth = 3 if path[0] in ("stages", "schedules") else 2
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
    return config


def stage_tables(stages: Any) -> Any:
    """Stages by name; ``to_dict`` writes them as a list of tables in order (anything else is left to validation)."""
    if stages is None:
        return {}
    if isinstance(stages, list):
        return {s.get("name", "") if isinstance(s, dict) else "": dict(s) if isinstance(s, dict) else s
                for s in stages}
    return {k: dict(v) if isinstance(v, dict) else v for k, v in stages.items()} if isinstance(stages, dict) else stages


SECTIONS = ("recipe", *CORE_SECTIONS, *COMPONENT_KINDS, "stages", "schedules")


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
        if key == "stages":
            stages = out["stages"] = stage_tables(out.get("stages"))
            for name, settings in value.items():
                if name not in stages:
                    known = ", ".join(stages) or "none"
                    raise ConfigError(f"unknown stage {name!r} in {origin}; this recipe's stages: {known}")
                if not isinstance(settings, dict):
                    raise ConfigError(f"[stages.{name}] in {origin} must be a table of settings, got {settings!r}")
                stages[name] = {**stages[name], **settings}
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
        if name == getattr(recipe, kind) or not isinstance(name, str):
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


def _validate_stage(registry: Registry, name: str, values: Any) -> StageSettings:
    where = f"stages.{name}"
    if not isinstance(values, dict):
        raise ConfigError(f"[{where}] must be a table of settings, got {values!r}")
    loss_settings = values.get("loss_settings") or {}
    plain = validate_section(StageSettings, {k: v for k, v in values.items() if k != "loss_settings"}, where)
    if plain["name"] != name:
        raise ConfigError(f"{where}.name is {plain['name']!r}; a stage's name is its table's name ({name!r})")
    if not plain["trains"]:
        raise ConfigError(f"{where}.trains names no module: say which of the model's modules the stage trains")
    cls = registry.component_class("loss", plain["loss"])
    plain["loss_settings"] = cls.Settings(**validate_section(cls.Settings, loss_settings, f"{where}.loss_settings"))
    return StageSettings(**plain)


def validate(registry: Registry, config: dict[str, Any]) -> RunConfig:
    """Validate a raw configuration (a recipe's, a file's, a run folder's) into a ``RunConfig``."""
    if isinstance(config, RunConfig):
        config = config.to_dict()
    sections: dict[str, Any] = {}
    for section, schema in CORE_SECTIONS.items():
        sections[section] = schema(**validate_section(schema, config.get(section, {}), section))
    for kind in COMPONENT_KINDS:
        cls = registry.component_class(kind, getattr(sections["model"], kind))
        sections[kind] = cls.Settings(**validate_section(cls.Settings, config.get(kind, {}), kind))
    stages = stage_tables(config.get("stages"))
    if not isinstance(stages, dict):
        raise ConfigError(f"stages must be a table of stage tables, got {stages!r}")
    sections["stages"] = tuple(_validate_stage(registry, name, values) for name, values in stages.items())
    sections["schedules"] = parse_schedules(config.get("schedules", {}), type(sections["loss"]))
    return RunConfig(recipe=str(config.get("recipe", "")), **sections)
