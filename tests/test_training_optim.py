"""The optimizer and learning-rate schedule a run's settings choose, against torch's own and the closed forms."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from click.testing import CliRunner
from conftest import quick_overrides

from genkit.cli import cli
from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.training import Callback, Trainer

LR, WEIGHT_DECAY, STEPS = 1e-2, 0.5, 4  # a decay large enough that L2 and decoupled decay land far apart
TORCH = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def trainer_with(npz, **settings) -> Trainer:
    # NCHW: the reference model below trains in the memory layout the trainer's does
    overrides = quick_overrides(npz, **{"training.channels_last": "false", "training.limit": 64, **settings})
    return Trainer(build_config(get_registry(), "vae", None, overrides), None, progress=False)


def steps_of(trainer: Trainer, reference: torch.optim.Optimizer, model: torch.nn.Module) -> None:
    """``STEPS`` steps of the trainer and the same steps of ``reference`` on ``model``, with the same noise."""
    noise = torch.Generator().set_state(trainer.noise_gen.get_state())
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for _ in range(STEPS):
        trainer.train_step(images)
        loss = model.compute_loss(images, generator=noise)["loss"]
        reference.zero_grad(set_to_none=True)
        loss.backward()
        reference.step()


@pytest.mark.parametrize("optimizer, fused", [("adamw", "true"), ("adamw", "false"), ("adam", "false")])
def test_optimizer_setting_is_torchs_optimizer(small_npz, optimizer, fused):
    """adamw is torch's AdamW (decoupled decay), adam is torch's Adam (L2 decay), both with eps 1e-7."""
    trainer = trainer_with(small_npz, **{"training.optimizer": f'"{optimizer}"', "training.lr": LR,
                                         "training.weight_decay": WEIGHT_DECAY, "training.fused_optimizer": fused})
    model, other = copy.deepcopy(trainer.model), copy.deepcopy(trainer.model)
    cls, wrong = TORCH[optimizer], TORCH["adam" if optimizer == "adamw" else "adamw"]
    fused_kernel = fused == "true" or None
    steps_of(trainer, cls(model.parameters(), lr=LR, eps=1e-7, weight_decay=WEIGHT_DECAY, fused=fused_kernel), model)
    ours = dict(trainer.model.named_parameters())
    for name, p in model.named_parameters():
        assert torch.allclose(ours[name], p, rtol=1e-5, atol=1e-7), name
    # the comparison tells the two kinds of decay apart: the other optimizer ends elsewhere
    trainer = trainer_with(small_npz, **{"training.optimizer": f'"{optimizer}"', "training.lr": LR,
                                         "training.weight_decay": WEIGHT_DECAY, "training.fused_optimizer": fused})
    steps_of(trainer, wrong(other.parameters(), lr=LR, eps=1e-7, weight_decay=WEIGHT_DECAY), other)
    ours = dict(trainer.model.named_parameters())
    assert max(float((ours[n] - p).detach().abs().max()) for n, p in other.named_parameters()) > 1e-4


class LearningRates(Callback):
    """The rate each epoch's optimizer steps with (set before ``on_epoch_start``); stops after ``stop_after`` epochs."""

    def __init__(self, stop_after: int = 0):
        self.rates: list[float] = []
        self.stop_after = stop_after

    def on_epoch_start(self, trainer, epoch, steps, start_step):
        self.rates.append(trainer.optimizer.param_groups[0]["lr"])

    def on_epoch_end(self, trainer, record):  # after the checkpoint: the epoch is committed
        if record["epoch"] == self.stop_after:
            raise KeyboardInterrupt


def rates_of(npz, tmp_path, name: str, epochs: int, resume: bool = False, stop_after: int = 0,
             **settings) -> tuple[list, list]:
    """Train ``epochs`` epochs of 64 images; the rates the optimizer used and the ones metrics.jsonl records."""
    run = tmp_path / name
    run.mkdir(exist_ok=True)
    seen = LearningRates(stop_after)
    overrides = quick_overrides(npz, **{"training.limit": 64, "training.epochs": epochs, "training.samples": 0,
                                        **settings})
    trainer = Trainer(build_config(get_registry(), "vae", None, overrides), run, resume=resume, progress=False,
                      callbacks=[seen])
    if stop_after:
        with pytest.raises(KeyboardInterrupt):
            trainer.run()
    else:
        trainer.run()
    logged = [json.loads(line)["lr"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    return seen.rates, logged


def test_cosine_schedule_follows_the_closed_form_and_resumes_on_it(small_npz, tmp_path):
    lr, low, epochs = 1e-3, 1e-4, 5
    settings = {"training.lr": lr, "training.schedule": '"cosine"', "training.min_lr": low}
    expected = [low + (lr - low) * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    used, logged = rates_of(small_npz, tmp_path, "straight", epochs, **settings)
    assert used == pytest.approx(expected, rel=1e-12) and logged == pytest.approx(expected, rel=1e-12)
    assert expected[0] == lr and expected[-1] > low  # starts at lr; reaches min_lr only after the last epoch
    # stopped after two epochs and resumed: the rest of the same curve, not a new one
    used, _ = rates_of(small_npz, tmp_path, "resumed", epochs, stop_after=2, **settings)
    assert used == pytest.approx(expected[:2], rel=1e-12)
    used, logged = rates_of(small_npz, tmp_path, "resumed", epochs, resume=True, **settings)
    assert used == pytest.approx(expected[2:], rel=1e-12) and logged == pytest.approx(expected, rel=1e-12)


def test_step_decay_is_the_books(small_npz, tmp_path):
    used, logged = rates_of(small_npz, tmp_path, "step", 5, **{"training.lr": 1e-3, "training.lr_decay": 0.5,
                                                               "training.lr_decay_step": 2})
    assert used == logged == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4], rel=1e-12)
    used, _ = rates_of(small_npz, tmp_path, "default", 3)  # the default: a constant rate
    assert used == [5e-4] * 3


@pytest.mark.parametrize("setting, message", [
    ('training.optimizer="sgd"', r"training\.optimizer must be one of 'adam', 'adamw'; got 'sgd'"),
    ('training.schedule="linear"', r"training\.schedule must be one of 'step', 'cosine'; got 'linear'"),
    ("training.weight_decay=-0.1", r"training\.weight_decay"),
    ("training.min_lr=nan", r"training\.min_lr must be a finite number"),
    ("training.lr_decay_step=0", r"training\.lr_decay_step"),
    ('training.weight_decay="a lot"', r"training\.weight_decay must be a number"),
])
def test_bad_optimizer_and_schedule_settings_are_one_line(small_npz, tmp_path, setting, message):
    import re

    run = tmp_path / "run"
    sets = [a for s in [*quick_overrides(small_npz), setting] for a in ("--set", s)]
    result = CliRunner().invoke(cli, ["train", "vae", "--quiet", "-o", str(run), *sets])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output and not run.exists()


def test_a_cosine_run_may_not_change_its_epochs_on_resume(small_npz, tmp_path):
    import genkit
    from genkit.errors import ConfigError

    genkit.train("vae", overrides=[*quick_overrides(small_npz), 'training.schedule="cosine"', "training.epochs=1"],
                 out=tmp_path / "cos", progress=False, echo=lambda line: None)
    with pytest.raises(ConfigError, match="cannot change its epochs when resuming"):
        genkit.train(resume=tmp_path / "cos", overrides=["training.epochs=2"], progress=False)
    # the same settings resume (nothing to do: the run is complete)
    assert genkit.train(resume=tmp_path / "cos", progress=False, echo=lambda line: None).epochs == 1
