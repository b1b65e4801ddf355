"""What a callback may read of the trainer (``CallbackSurface``): each documented name, read in a real run.

A two-stage ``vq-vae`` trains one epoch per stage on a few images; a callback reads every documented
attribute at every hook. Renaming, removing or retyping one of them fails here, and so does a docs
table in docs/training.md that lists other names than the code promises.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import quick_overrides

import genkit
from genkit.config import RunConfig
from genkit.contract.model import GenerativeModel
from genkit.training import Callback, Trainer
from genkit.training.callbacks import CallbackSurface
from genkit.training.stages import Stage

DOCS = Path(__file__).resolve().parents[1] / "docs" / "training.md"
HOOKS = ("on_fit_start", "on_stage_start", "on_epoch_start", "on_step_end", "on_epoch_end", "on_fit_end")
KINDS = {"config": RunConfig, "model": GenerativeModel, "device": torch.device, "run_dir": Path, "resume": bool,
         "epoch": int, "step": int, "global_step": int, "steps_in_epoch": int, "stage": Stage, "stages": tuple,
         "terms": tuple, "optimizer": torch.optim.Optimizer, "optimizers": dict, "metrics": list, "rank": int,
         "world_size": int, "is_main": bool}


class ReadsEverything(Callback):
    """At every hook: every documented attribute, its kind, and the counters the hook's arguments imply."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def read(self, hook: str, trainer) -> dict:
        seen = {name: getattr(trainer, name) for name in CallbackSurface.SURFACE}
        for name, kind in KINDS.items():
            assert isinstance(seen[name], kind), (hook, name, type(seen[name]))
        assert all(isinstance(s, Stage) for s in seen["stages"]) and seen["stage"] in seen["stages"]
        assert seen["terms"][0] == "loss" and all(isinstance(t, str) for t in seen["terms"])
        assert len(seen["train_split"]) and len(seen["test_split"]) and callable(seen["log"])
        assert (seen["rank"], seen["world_size"], seen["is_main"]) == (0, 1, True)
        self.optimizers[seen["stage"].name], self.model = seen["optimizer"], seen["model"]
        assert list(seen["optimizers"].values()) == [seen["optimizer"]]  # one player: the stage's optimizer
        self.calls.append((hook, {k: seen[k] for k in ("epoch", "step", "global_step", "steps_in_epoch")}
                           | {"stage": seen["stage"].name, "terms": seen["terms"], "metrics": len(seen["metrics"])}))
        return seen

    def on_fit_start(self, trainer):
        self.read("on_fit_start", trainer)

    def on_stage_start(self, trainer, stage):
        assert self.read("on_stage_start", trainer)["stage"] is stage

    def on_epoch_start(self, trainer, epoch, steps, start_step):
        seen = self.read("on_epoch_start", trainer)
        assert (seen["epoch"], seen["step"], seen["steps_in_epoch"]) == (epoch, start_step, steps)

    def on_step_end(self, trainer, step, status):
        assert self.read("on_step_end", trainer)["step"] == step

    def on_epoch_end(self, trainer, record):
        seen = self.read("on_epoch_end", trainer)
        assert (seen["epoch"], seen["step"], seen["metrics"][-1]) == (record["epoch"], 0, record)
        assert record["stage"] == seen["stage"].name

    def on_fit_end(self, trainer, result):
        assert self.read("on_fit_end", trainer)["run_dir"] == result.run_dir


@pytest.fixture(scope="module")
def staged_run(small_npz, tmp_path_factory):
    reader = ReadsEverything()
    out = tmp_path_factory.mktemp("surface") / "run"
    overrides = quick_overrides(small_npz, **{"training.limit": 128, "training.epochs": 1, "stages.prior.epochs": 1})
    result = genkit.train("vq-vae", overrides=overrides, out=out, progress=False, callbacks=[reader])
    return reader, result


def test_every_hook_reads_every_documented_attribute(staged_run):
    reader, result = staged_run
    hooks = [hook for hook, _ in reader.calls]
    assert set(hooks) == set(HOOKS)
    assert hooks.count("on_stage_start") == 2 and hooks.count("on_step_end") == 2 * 2  # 128 images at batch 64
    first = reader.calls[0][1]  # on_fit_start of a fresh run
    assert [first[k] for k in ("epoch", "step", "global_step", "stage", "metrics")] == [0, 0, 0, "main", 0]
    steps = [values["global_step"] for hook, values in reader.calls if hook == "on_step_end"]
    assert steps == [1, 2, 3, 4]
    ends = [values for hook, values in reader.calls if hook == "on_epoch_end"]
    assert [(v["epoch"], v["stage"], v["metrics"]) for v in ends] == [(1, "main", 1), (2, "prior", 2)]
    assert ends[1]["terms"] == ("loss", "nll", "bits_per_code") != ends[0]["terms"]
    assert reader.calls[-1][1]["epoch"] == result.epochs == 2


def test_each_stage_has_its_own_optimizer_over_what_it_trains(staged_run):
    """The main stage optimises every parameter but the later stages' losses (its loss's own included)."""
    reader, _ = staged_run
    main, prior = reader.optimizers["main"], reader.optimizers["prior"]
    assert main is not prior
    model = reader.model

    def held(optimizer):
        return {id(p) for group in optimizer.param_groups for p in group["params"]}

    assert held(main) == {id(p) for n, p in model.named_parameters() if not n.startswith("stage_losses.")}
    assert held(prior) == {id(p) for p in [*model.sampler.prior_network.parameters(),
                                           *model.stage_losses["prior"].parameters()]}


def test_the_counters_are_read_only(small_npz):
    from genkit.config import build_config
    from genkit.contract.host import get_registry

    config = build_config(get_registry(), "vae", overrides=quick_overrides(small_npz, **{"training.limit": 64}))
    trainer = Trainer(config, None, progress=False)
    for name in ("epoch", "step", "global_step", "rank", "world_size"):
        with pytest.raises(AttributeError):
            setattr(trainer, name, 1)


def test_docs_list_the_surface_the_code_promises():
    """docs/training.md's table of what a callback may read names exactly CallbackSurface.SURFACE."""
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("What a callback may read of the trainer", 1)[1].split("\n\n", 2)[1]
    documented = [name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)", row.split("|")[1])]
    assert documented == list(CallbackSurface.SURFACE)
    for name in CallbackSurface.SURFACE:
        assert f"``{name}" in CallbackSurface.__doc__, name
