"""Schedules of loss settings, as settings: ``[schedules."loss.beta"]`` (a KL warm-up of β from 0 to 1).

Written as ``[schedules."loss.beta"]`` in a TOML file or ``--set schedules.loss.beta={start=0, end=1,
over=10}``: ``start`` and ``end`` values, ``over`` epochs (or steps, with ``unit = "steps"``), ``shape``
``linear`` or ``cosine``; before ``over`` is reached the value moves from start to end, after it stays at
end. A schedule applies to a numeric setting of the model's own loss (the one the main stage trains), and
both of its ends must be values that setting accepts. A player with a loss of its own has its settings
scheduled as ``players.PLAYER.NAME`` (a gradient penalty's weight, say). ``genkit.training.schedules`` applies them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal

from genkit.config.fields import field, validate_section
from genkit.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SettingSchedule:
    """How one numeric setting of the loss moves over training."""

    start: float = field(0.0, "the value at the start of training")
    end: float = field(1.0, "the value from `over` on")
    over: int = field(10, "epochs (or steps) from start to end", min=1)
    unit: Literal["epochs", "steps"] = field("epochs", "what `over` counts")
    shape: Literal["linear", "cosine"] = field("linear", "linear, or cosine (slow at both ends)")

    def value(self, epochs: float, steps: int) -> float:
        """The value after ``epochs`` epochs (fractional, within an epoch) or ``steps`` steps of training."""
        done = min(max((epochs if self.unit == "epochs" else steps) / self.over, 0.0), 1.0)
        if self.shape == "cosine":
            done = (1.0 - math.cos(math.pi * done)) / 2.0
        return self.start + (self.end - self.start) * done


def parse_schedules(table: Any, losses: type | dict[str, type], where: str = "schedules") -> dict[str, SettingSchedule]:
    """``{"loss.NAME": {...}, "players.PLAYER.NAME": {...}}`` checked against each loss's ``Settings``: a numeric
    setting, values it accepts. ``losses`` maps ``loss`` and each ``players.PLAYER`` with a loss of its own to its
    ``Settings`` class (a bare class is the model's loss alone)."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table of schedules by setting, e.g. \"loss.beta\" = {{start = 0, "
                          f"end = 1, over = 10}}; got {table!r}")
    losses = losses if isinstance(losses, dict) else {"loss": losses}
    schedules = {}
    for setting, values in flatten(table).items():
        owner, _, name = setting.rpartition(".")
        if owner not in losses or not name:
            owners = ", ".join(f"{o}.NAME" for o in losses)
            raise ConfigError(f"{where} names {setting!r}; schedules apply to the settings of a loss: write {owners}")
        loss_settings = losses[owner]
        hints = typing.get_type_hints(loss_settings)
        numeric = {f.name for f in dataclasses.fields(loss_settings) if hints[f.name] in (int, float)}
        if name not in numeric:
            kind = "no setting" if name not in hints else "a setting that is not a number"
            raise ConfigError(f"{where}.{setting}: the loss has {kind} {name!r}; its numeric settings: "
                              f"{', '.join(sorted(numeric)) or 'none'}")
        checked = SettingSchedule(**validate_section(SettingSchedule, values, f"{where}.{setting}"))
        for end in ("start", "end"):  # both ends must be values the setting itself accepts
            validate_section(loss_settings, {name: getattr(checked, end)}, f"{where}.{setting}.{end}: loss")
        schedules[setting] = checked
    return schedules


def flatten(table: dict[str, Any]) -> dict[str, Any]:
    """Schedules by setting (``"loss.NAME"``, ``"players.PLAYER.NAME"``): ``--set schedules.loss.beta=...`` and
    ``[schedules.loss.beta]`` arrive nested (``{"loss": {"beta": {...}}}``), ``[schedules."loss.beta"]`` flat."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and value and not _is_schedule(value):
            flat.update({f"{key}.{name}": schedule for name, schedule in flatten(value).items()})
        else:
            flat[key] = value
    return flat


def _is_schedule(value: dict) -> bool:
    return bool(set(value) & {f.name for f in dataclasses.fields(SettingSchedule)})
