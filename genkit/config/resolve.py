"""A run's configuration resolved: recipe defaults, a TOML file and ``--set`` overrides, merged and validated."""

from __future__ import annotations

import difflib
import tomllib
import typing
from pathlib import Path
from typing import Any

from genkit.config.fields import validate_section
from genkit.config.sections import CORE_SECTIONS, RunConfig, StageSettings
from genkit.contract.registry import COMPONENT_KINDS, Recipe, Registry
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
    """``section.key=value`` (or ``stages.NAME.key=value``) with the value read as TOML (a bare word is a string)."""
    key, sep, raw = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    depth = 3 if path[0] == "stages" else 2
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


SECTIONS = ("recipe", *CORE_SECTIONS, *COMPONENT_KINDS, "stages")


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
    config = merge(recipe_defaults(registry.recipe(recipe_name)), user, str(file))
    for text in overrides:
        config = merge(config, override_table(text), f"--set {text}")
    return validate(registry, config)


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
    return RunConfig(recipe=str(config.get("recipe", "")), **sections)
