"""Schedules of loss settings (a KL warm-up): known values, refusals, the value in force logged and resumed."""

from __future__ import annotations

import json
import math

import pytest
from test_training_api import FailAt, assert_same_weights, overrides

import genkit
from genkit.config import build_config
from genkit.config.schedules import SettingSchedule
from genkit.contract.host import get_registry
from genkit.errors import ConfigError

WARM_UP = 'schedules.loss.beta={start = 0.0, end = 1.0, over = 2}'


@pytest.mark.parametrize(("schedule", "epochs", "steps", "expected"), [
    (SettingSchedule(0, 1, 10), 0, 0, 0.0),
    (SettingSchedule(0, 1, 10), 2.5, 0, 0.25),
    (SettingSchedule(0, 1, 10), 10, 0, 1.0),
    (SettingSchedule(0, 1, 10), 25, 0, 1.0),  # stays at its end
    (SettingSchedule(4, 1, 3), 1, 0, 3.0),  # falling
    (SettingSchedule(0, 2, 8, "steps"), 99, 2, 0.5),  # counts steps, not epochs
    (SettingSchedule(0, 1, 4, shape="cosine"), 2, 0, 0.5),
    (SettingSchedule(0, 1, 4, shape="cosine"), 1, 0, (1 - math.cos(math.pi / 4)) / 2),
])
def test_a_schedule_gives_its_known_values(schedule, epochs, steps, expected):
    assert schedule.value(epochs, steps) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("recipe", "text", "message"), [
    ("beta-vae", "schedules.loss.gamma={over = 2}", r"schedules.loss.gamma: the loss has no setting 'gamma'; its "
                                                    r"numeric settings: beta, r_loss_factor"),
    ("wae-mmd", "schedules.loss.scales={over = 2}", r"the loss has a setting that is not a number 'scales'"),
    ("beta-vae", "schedules.loss.beta={over = 0}", r"schedules.loss.beta.over must be >= 1; got 0"),
    ("beta-vae", "schedules.loss.beta={start = -1.0}", r"schedules.loss.beta.start: loss.beta must be >= 0.0"),
    ("beta-vae", "schedules.loss.beta={unit = \"days\"}", r"schedules.loss.beta.unit"),
    ("beta-vae", "schedules.decoder.filters={over = 2}", r"schedules names 'decoder.filters'; schedules apply to "
                                                         r"the settings of a loss: write loss.NAME$"),
])
def test_a_schedule_that_cannot_apply_is_refused_in_one_line(recipe, text, message):
    with pytest.raises(ConfigError, match=message):
        build_config(get_registry(), recipe, overrides=[text])


def test_the_cli_refuses_it_before_any_folder(tmp_path, small_npz):
    from bad_inputs.harness import assert_fails_cleanly

    args = ["train", "beta-vae", "-o", str(tmp_path / "run"), "--set", "schedules.loss.gamma={over = 2}",
            *[a for s in overrides(small_npz) for a in ("--set", s)]]
    assert_fails_cleanly(args, {}, tmp_path, r"the loss has no setting 'gamma'")


def test_a_warm_up_sets_the_loss_and_is_logged_each_epoch(small_npz, tmp_path):
    result = genkit.train("beta-vae", overrides=[*overrides(small_npz, **{"training.epochs": 3}), WARM_UP],
                          out=tmp_path / "run", progress=False)
    assert [r["settings"] for r in result.metrics] == [{"loss.beta": 0.5}, {"loss.beta": 1.0}, {"loss.beta": 1.0}]
    for record in result.metrics:  # the test loss is scored with the β in force at the epoch's end
        test = record["test"]
        assert test["loss"] == pytest.approx(test["reconstruction"] + record["settings"]["loss.beta"] * test["kl"],
                                             rel=1e-5)
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["schedules"] == {"loss.beta": {"start": 0.0, "end": 1.0, "over": 2, "unit": "epochs",
                                                 "shape": "linear"}}
    assert genkit.load(tmp_path / "run").loss.settings.beta == 1.0  # the value the weights were trained to


def test_a_resumed_warm_up_continues_exactly(small_npz, tmp_path):
    settings = [*overrides(small_npz, **{"training.checkpoint_every": 3}), "schedules.loss.beta={start = 0.0, "
                "end = 1.0, over = 8, unit = \"steps\"}"]
    straight = genkit.train("beta-vae", overrides=settings, out=tmp_path / "straight", progress=False)
    with pytest.raises(KeyboardInterrupt):  # killed mid-epoch, one step after its checkpoint
        genkit.train("beta-vae", overrides=settings, out=tmp_path / "stopped", progress=False,
                     callbacks=[FailAt(2, 4, KeyboardInterrupt())])
    resumed = genkit.train(resume=tmp_path / "stopped", progress=False)
    assert_same_weights(straight.run_dir, resumed.run_dir)
    assert [m["settings"] for m in resumed.metrics] == [m["settings"] for m in straight.metrics] == [
        {"loss.beta": 0.5}, {"loss.beta": 1.0}]  # 4 steps an epoch: half-way after the first
