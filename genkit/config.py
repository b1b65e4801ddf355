"""Typed run configuration: recipe defaults, a TOML file and ``--set key=value`` overrides, validated.

A configuration is a nested mapping with the sections ``model`` (component names, input shape, latent
size), ``encoder``, ``sampler``, ``decoder``, ``loss`` (each component's own settings), ``training`` and
``data``. Every section is described by a dataclass; validation names the offending field and the
values it accepts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from genkit.errors import ConfigError
from genkit.registry import COMPONENT_KINDS, Recipe, Registry


def field(default: Any, help: str = "", **checks: Any) -> Any:
    """A dataclass field with a help text and checks (``min``, ``max``, ``positive_items``)."""
    kwargs = {"default_factory": (lambda d=default: list(d))} if isinstance(default, list) else {"default": default}
    return dataclasses.field(metadata={"help": help, **checks}, **kwargs)


@dataclasses.dataclass
class ModelSettings:
    encoder: str = field("", "registered encoder name")
    sampler: str = field("", "registered sampler name")
    decoder: str = field("", "registered decoder name")
    loss: str = field("", "registered loss name")
    input_shape: list[int] = field([1, 28, 28], "input image shape (C, H, W)", positive_items=True)
    z_dim: int = field(2, "latent size", min=1)


@dataclasses.dataclass
class TrainingSettings:
    epochs: int = field(10, "number of epochs", min=1)
    batch_size: int = field(32, "images per step (global, across all processes)", min=1)
    lr: float = field(5e-4, "Adam learning rate", min=0.0)
    adam_eps: float = field(1e-7, "Adam epsilon (Keras' default)", min=0.0)
    lr_decay: float = field(1.0, "step-decay factor: lr = lr0 * decay^floor(epoch / lr_decay_step)", min=0.0)
    lr_decay_step: int = field(1, "epochs between learning-rate decays", min=1)
    seed: int = field(0, "seed for weights, data order and sampling", min=0)
    device: Literal["auto", "cpu", "cuda"] = field("auto", "where to train")
    precision: Literal["fp32", "bf16", "fp16"] = field("fp32", "autocast precision (fp16 on CUDA only)")
    channels_last: bool = field(True, "channels-last memory format (faster convolutions on CPU and GPU)")
    fused_optimizer: bool = field(True, "one fused Adam kernel for all parameters instead of a loop over them")
    grad_clip: float = field(0.0, "clip the gradient norm to this value (0: off)", min=0.0)
    limit: int = field(0, "train on the first N training images (0: all)", min=0)
    checkpoint_every: int = field(0, "also checkpoint every N steps within an epoch (0: per epoch only)", min=0)
    samples: int = field(64, "images decoded from the prior into RUN/samples/ each epoch (0: none)", min=0)
    threads: int = field(0, "CPU threads for torch (0: torch's default)", min=0)


@dataclasses.dataclass
class DataSettings:
    name: str = field("fashion-mnist", "dataset name (`genkit list`), e.g. fashion-mnist, mnist, folder:PATH, npz:PATH")
    workers: int = field(2, "DataLoader worker processes for datasets read from disk", min=0)


CORE_SECTIONS: dict[str, type] = {"model": ModelSettings, "training": TrainingSettings, "data": DataSettings}

# `genkit train --fast`: the fastest CPU configuration `python -m benchmarks fast_training` found, applied
# before the user's own settings. Channels-last and the fused optimizer are already the defaults (same
# results, faster); bf16 is not, because it changes the numbers and is fast only on CPUs with AVX512_BF16
# or AMX (or on a GPU): elsewhere it is several times slower than fp32.
FAST_TRAINING: dict[str, Any] = {"precision": "bf16", "channels_last": True, "fused_optimizer": True}


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (list, tuple):
        plural = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}
        item = typing.get_args(tp)[0]
        return f"a list of {plural.get(item, _type_name(item))}"
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "none"}
    return names.get(tp, str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (int to float, list to list)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where} must be {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, typing.get_args(tp)))}; got {value!r}")
        return value
    if isinstance(tp, types.UnionType) or origin is typing.Union:
        for option in typing.get_args(tp):
            try:
                return coerce(value, option, where)
            except ConfigError:
                pass
        raise bad
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        item = typing.get_args(tp)[0]
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is type(None):
        if value is not None:
            raise bad
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):  # NaN passes every `< min` check, and neither NaN nor ±inf is a setting
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    return value


def _check_bounds(value: Any, meta: typing.Mapping[str, Any], where: str) -> None:
    values = value if isinstance(value, list) else [value]
    if meta.get("positive_items") and any(v <= 0 for v in values):
        raise ConfigError(f"{where} must contain only positive values; got {value!r}")
    for v in values:
        if isinstance(v, str):
            continue
        if "min" in meta and v < meta["min"]:
            raise ConfigError(f"{where} must be >= {meta['min']}; got {value!r}")
        if "max" in meta and v > meta["max"]:
            raise ConfigError(f"{where} must be <= {meta['max']}; got {value!r}")


def validate_section(schema: type, values: dict[str, Any], section: str) -> dict[str, Any]:
    """Validate ``values`` against the dataclass ``schema``; return the complete, converted section."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of settings, got {values!r}")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {section}.{close[0]}?" if close else ""
            allowed = ", ".join(fields) if fields else "(none)"
            raise ConfigError(f"unknown setting {section}.{key}{hint} Allowed in [{section}]: {allowed}")
    result = {}
    for name, f in fields.items():
        where = f"{section}.{name}"
        if name in values:
            value = coerce(values[name], hints[name], where)
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            raise ConfigError(f"{where} is required")
        _check_bounds(value, f.metadata, where)
        result[name] = value
    check = getattr(schema, "check", None)  # cross-field rules, e.g. per-layer lists of one length
    if check is not None:
        check(result, section)
    return result


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` with the value read as TOML (a bare word is a string)."""
    key, sep, raw = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not sep or len(path) != 2 or not all(path):
        raise ConfigError(f"--set {text!r} is not of the form section.key=value (e.g. training.lr=1e-3)")
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
    """The recipe as a configuration: its component names, shape, latent size and settings."""
    config: dict[str, Any] = {"recipe": recipe.name,
                              "model": {**recipe.components(), "input_shape": list(recipe.input_shape),
                                        "z_dim": recipe.z_dim}}
    for section, values in recipe.settings.items():
        config[section] = dict(values)
    return config


def merge(base: dict[str, Any], extra: dict[str, Any], origin: str) -> dict[str, Any]:
    sections = ("recipe", *CORE_SECTIONS, *COMPONENT_KINDS)
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in extra.items():
        if key not in sections:
            close = difflib.get_close_matches(key, sections, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ConfigError(f"unknown section [{key}] in {origin}{hint} Sections: {', '.join(sections)}")
        if key == "recipe":
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"[{key}] in {origin} must be a table of settings, got {value!r}")
        out.setdefault(key, {}).update(value)
    return out


def build_config(registry: Registry, recipe_name: str, file: str | Path | None = None,
                 overrides: typing.Sequence[str] = ()) -> dict[str, Any]:
    """Resolve and validate the configuration of a run of ``recipe_name``."""
    user: dict[str, Any] = read_toml(file) if file else {}
    if user.get("recipe") not in (None, recipe_name):
        raise ConfigError(f"config file {file} is for recipe {user['recipe']!r}, not {recipe_name!r}")
    config = merge(recipe_defaults(registry.recipe(recipe_name)), user, str(file))
    for text in overrides:
        (section, key), value = parse_override(text)
        config = merge(config, {section: {key: value}}, f"--set {text}")
    return validate(registry, config)


def validate(registry: Registry, config: dict[str, Any]) -> dict[str, Any]:
    """Validate every section; component sections against their class's ``Settings``."""
    out: dict[str, Any] = {"recipe": config.get("recipe", "")}
    for section, schema in CORE_SECTIONS.items():
        out[section] = validate_section(schema, config.get(section, {}), section)
    for kind in COMPONENT_KINDS:
        cls = registry.component_class(kind, out["model"][kind])
        out[kind] = validate_section(cls.Settings, config.get(kind, {}), kind)
    if len(out["model"]["input_shape"]) != 3:
        raise ConfigError(f"model.input_shape must be [channels, height, width]; got {out['model']['input_shape']}")
    return out
