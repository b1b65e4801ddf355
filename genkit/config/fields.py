"""Settings fields and their checks: how a dataclass describes a setting and how a value is validated against it.

Every section of a configuration (core or a component's ``Settings``) is a dataclass whose fields are
made with ``field(default, help, min=..., max=..., positive_items=..., choices=..., scalar_as_list=...)``;
``validate_section`` checks a raw table against one, naming the offending field and what it accepts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal

from genkit.errors import ConfigError


def field(default: Any, help: str = "", **checks: Any) -> Any:
    """A dataclass field with a help text and checks (``min``, ``max``, ``positive_items``)."""
    if isinstance(default, (list, dict)):  # a fresh copy for each instance
        kwargs: dict[str, Any] = {"default_factory": (lambda d=default: type(d)(d))}
    else:
        kwargs = {"default": default}
    return dataclasses.field(metadata={"help": help, **checks}, **kwargs)


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    plural = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}
    if typing.get_origin(tp) in (list, tuple):
        item = typing.get_args(tp)[0]
        return f"a list of {plural.get(item, type_name(item))}"
    if typing.get_origin(tp) is dict:
        item = typing.get_args(tp)[1]
        return f"a table of {plural.get(item, type_name(item))} by name"
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "none"}
    return names.get(tp, str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (int to float, list to list)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where} must be {type_name(tp)}, got {value!r}")
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
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise bad
        item = typing.get_args(tp)[1]
        return {k: coerce(v, item, f"{where}.{k}") for k, v in value.items()}
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
    values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    if meta.get("positive_items") and any(v <= 0 for v in values):
        raise ConfigError(f"{where} must contain only positive values; got {value!r}")
    choices = meta.get("choices")
    for v in values:
        if choices is not None and v not in choices:
            raise ConfigError(f"{where} may only contain {', '.join(map(repr, choices))}; got {v!r}")
        if isinstance(v, str) or v is None:
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
            given = values[name]
            if f.metadata.get("scalar_as_list") and isinstance(given, int) and not isinstance(given, bool):
                given = [given]
            value = coerce(given, hints[name], where)
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
