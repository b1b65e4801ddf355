"""``training.lr_scales``: a learning rate per module path (a codebook at 10x the rest), as parameter groups."""

from __future__ import annotations

import pytest
import torch
from test_training_api import overrides

import genkit
from genkit.errors import ConfigError
from genkit.training import Callback

LR = 1e-3


class FirstStep(Callback):
    """Keeps the weights before training and the optimizer's groups after the first step."""

    def on_fit_start(self, trainer):
        self.before = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    def on_step_end(self, trainer, step, status):
        if step == 1:
            self.groups = [(g.get("name"), g["lr"], g.get("lr_scale", 1.0), len(g["params"]))
                           for g in trainer.optimizer.param_groups]
            self.after = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def first_step(npz, tmp_path, **sets):
    seen = FirstStep()
    genkit.train("vae", overrides=overrides(npz, **{"training.epochs": 1, "training.limit": 64, "training.lr": LR,
                                                     **sets}), out=tmp_path / "run", progress=False, callbacks=[seen])
    return seen


def largest_move(seen, prefix: str) -> float:
    return max((seen.after[k] - seen.before[k]).abs().max().item() for k in seen.before
               if k.startswith(prefix) and seen.before[k].is_floating_point() and "running" not in k)


def test_a_scaled_module_moves_by_its_own_rate(small_npz, tmp_path):
    # Adam's first step moves every weight with a gradient by about lr (m / sqrt(v) = ±1), so the
    # scaled decoder must move ten times as far as the encoder.
    seen = first_step(small_npz, tmp_path, **{"training.lr_scales": '{decoder = 10.0}'})
    decoder_params = sum(1 for k in seen.before if k.startswith("decoder.") and "running" not in k
                         and "num_batches" not in k)
    assert [(name, scale) for name, _, scale, _ in seen.groups] == [("rest", 1.0), ("decoder", 10.0)]
    assert seen.groups[1][1] == pytest.approx(10 * LR) and seen.groups[0][1] == pytest.approx(LR)
    assert seen.groups[1][3] == decoder_params
    assert largest_move(seen, "decoder.") == pytest.approx(10 * LR, rel=0.02)
    assert largest_move(seen, "encoder.") == pytest.approx(LR, rel=0.02)


def test_without_scales_there_is_one_group_as_before(small_npz, tmp_path):
    seen = first_step(small_npz, tmp_path)
    assert len(seen.groups) == 1 and seen.groups[0][1] == pytest.approx(LR)


@pytest.mark.parametrize(("scales", "message"), [
    ('{"decoder.nothing" = 2.0}', r"training.lr_scales names 'decoder.nothing', which is not a module of this model"),
    ('{decoder = 2.0, "decoder.dense" = 3.0}', r"names 'decoder' and 'decoder.dense', which share parameters"),
    ('{decoder = -1.0}', r"training.lr_scales.decoder must be >= 0.0|lr_scales must be >= 0.0"),
    ('{decoder = "fast"}', r"training.lr_scales.decoder must be a number"),
])
def test_scales_that_cannot_apply_are_one_line_before_any_folder(small_npz, tmp_path, scales, message):
    with pytest.raises(ConfigError, match=message):
        genkit.train("vae", overrides=overrides(small_npz, **{"training.lr_scales": scales}), out=tmp_path / "run",
                     progress=False)
    assert not (tmp_path / "run").exists()


def test_a_scaled_rate_follows_the_schedule(small_npz, tmp_path):
    rates = []

    class Rates(Callback):
        def on_epoch_start(self, trainer, epoch, steps, start_step):
            rates.append([g["lr"] for g in trainer.optimizer.param_groups])

    genkit.train("vae", overrides=overrides(small_npz, **{"training.epochs": 2, "training.lr": LR,
                                                          "training.lr_decay": 0.5,
                                                          "training.lr_scales": '{decoder = 4.0}'}),
                 out=tmp_path / "run", progress=False, callbacks=[Rates()])
    assert torch.allclose(torch.tensor(rates, dtype=torch.float64),
                          torch.tensor([[LR, 4 * LR], [LR / 2, 2 * LR]], dtype=torch.float64))
