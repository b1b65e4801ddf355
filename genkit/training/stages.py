"""Training stages: the first trains the whole model with its loss; later ones train named modules of it.

A recipe may list stages after the first (``genkit.config.StageSettings``), e.g. fitting a prior
network on the trained encoder's codes. Each stage runs in the one training loop with its own
optimizer over the modules it trains; everything else is frozen (no gradients, eval mode, so batch
statistics and dropout stay as the first stage left them). Epochs are counted across stages, so a
run's metrics are one sequence and the checkpoint names the stage it stopped in.
"""

from __future__ import annotations

import dataclasses

import torch

from genkit.config import RunConfig
from genkit.errors import ConfigError

MAIN = "main"  # the first stage's name; recipes may not reuse it


@dataclasses.dataclass(frozen=True)
class Stage:
    index: int
    name: str
    loss: str | None  # None: the model's own loss; else the name of a stage loss in model.stage_losses
    trains: tuple[str, ...]  # module paths; () trains every parameter
    epochs: int
    first_epoch: int  # epochs finished before this stage starts (across stages)
    lr: float
    batch_size: int

    @property
    def last_epoch(self) -> int:
        return self.first_epoch + self.epochs


def stages_of(config: RunConfig) -> tuple[Stage, ...]:
    t = config.training
    stages = [Stage(0, MAIN, None, (), t.epochs, 0, t.lr, t.batch_size)]
    for s in config.stages:
        if t.schedule == "cosine" and s.lr is not None and t.min_lr > s.lr:
            # each stage's cosine falls from its own lr to training.min_lr: a rate below it would rise
            raise ConfigError(f"stages.{s.name}.lr ({s.lr:g}) is below training.min_lr ({t.min_lr:g}): the cosine "
                              f"schedule falls from a stage's lr to min_lr; set min_lr <= every stage's lr")
        before = stages[-1].last_epoch
        stages.append(Stage(len(stages), s.name, s.name, tuple(s.trains), s.epochs, before,
                            t.lr if s.lr is None else s.lr, t.batch_size if s.batch_size is None else s.batch_size))
    return tuple(stages)


def parameters_of(modules: list[torch.nn.Module]) -> list[torch.nn.Parameter]:
    """The parameters of ``modules``, each once (a module may sit inside another one listed)."""
    seen: set[int] = set()
    return [p for m in modules for p in m.parameters() if not (id(p) in seen or seen.add(id(p)))]


def train_only(model: torch.nn.Module, parameters: list[torch.nn.Parameter]) -> None:
    """Only ``parameters`` of ``model`` require gradients from now on."""
    wanted = {id(p) for p in parameters}
    for p in model.parameters():
        p.requires_grad_(id(p) in wanted)


def trained_parameters(model: torch.nn.Module, stage: Stage) -> list[torch.nn.Parameter]:
    """The parameters ``stage`` optimises; freezes every other one (and unfreezes these)."""
    if not stage.trains:
        chosen = [p for name, p in model.named_parameters() if not name.startswith("stage_losses.")]
    else:
        chosen = parameters_of([model.get_submodule(path) for path in stage.trains] + [model.stage_losses[stage.name]])
    train_only(model, chosen)
    return chosen


def set_mode(model: torch.nn.Module, stage: Stage, training: bool) -> None:
    """Train mode for what ``stage`` trains (when ``training``), eval mode for all that is frozen."""
    if not stage.trains:
        model.train(training)
        return
    model.eval()
    for path in stage.trains:
        model.get_submodule(path).train(training)
    model.stage_losses[stage.name].train(training)
