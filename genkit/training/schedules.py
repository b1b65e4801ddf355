"""Applying the schedules of loss settings while training (``genkit.config.schedules`` describes them).

A schedule is a function of where training is, not a state: the value in force at a step follows from
the epoch and the step alone, so a resumed run continues it exactly and every process of a distributed
run agrees. ``SettingSchedules``, a callback that runs on every rank, sets the losses' settings before each
step (``loss.settings`` is replaced by a copy with the new values: a loss reads its settings in
``forward``, which is what makes a setting schedulable) and adds the values in force to each epoch's
record, so the metrics log and TensorBoard show them.
"""

from __future__ import annotations

import dataclasses

from genkit.config.schedules import SettingSchedule
from genkit.training.callbacks import Callback


def scheduled_loss(model, setting: str):
    """The loss module a setting (``loss.NAME`` or ``players.PLAYER.NAME``) belongs to, and the setting's name."""
    owner, _, name = setting.rpartition(".")
    return (model.loss if owner == "loss" else model.loss_named(player=owner.split(".", 1)[1])), name


def apply(model, schedules: dict[str, SettingSchedule], epochs: float, steps: int) -> dict[str, float]:
    """Set each scheduled loss setting of ``model`` to its value at this point of training; the values set."""
    values = {setting: schedule.value(epochs, steps) for setting, schedule in schedules.items()}
    set_values(model, values)
    return values


def set_values(model, values: dict[str, float]) -> None:
    """Replace each scheduled loss's ``settings`` by a copy with ``values`` (``{"loss.NAME": value}``, ``{"players.
    PLAYER.NAME": value}``), each in its setting's type."""
    by_loss: dict[int, tuple] = {}
    for setting, value in values.items():
        loss, name = scheduled_loss(model, setting)
        by_loss.setdefault(id(loss), (loss, {}))[1][name] = value
    for loss, names in by_loss.values():
        current = loss.settings
        loss.settings = dataclasses.replace(current, **{name: type(getattr(current, name))(value)
                                                        for name, value in names.items()})


class SettingSchedules(Callback):
    """Sets the scheduled loss settings before every step, on every rank, and records the values in force."""

    writes = False  # every rank's loss must use the same values

    def __init__(self, schedules: dict[str, SettingSchedule]):
        self.schedules = schedules
        self.values: dict[str, float] = {}
        self.steps = 1

    def set(self, trainer, epoch: int, step: int) -> None:
        """The values for the step after ``step`` steps of epoch ``epoch`` (0-based)."""
        self.values = apply(trainer.model, self.schedules, epoch + step / self.steps, trainer.global_step)

    def on_epoch_start(self, trainer, epoch, steps, start_step):
        self.steps = max(steps, 1)
        self.set(trainer, epoch, start_step)

    def on_step_end(self, trainer, step, status):
        self.set(trainer, trainer.epoch, step)

    def on_epoch_record(self, trainer, record):
        record["settings"] = {setting: round(value, 9) for setting, value in self.values.items()}
