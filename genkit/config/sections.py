"""The core sections of a run's configuration and ``RunConfig``, the validated tree of frozen dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from genkit.config.fields import field
from genkit.config.schedules import SettingSchedule
from genkit.contract.registry import COMPONENT_KINDS, NO_ENCODER
from genkit.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    encoder: str = field("", "registered encoder name, or none: a generator-only model (its decoder draws from "
                             "the prior; nothing encodes)")
    sampler: str = field("", "registered sampler name")
    decoder: str = field("", "registered decoder name")
    loss: str = field("", "registered loss name")
    input_shape: list[int] = field([1, 28, 28], "input image shape (C, H, W)", positive_items=True)
    latent_shape: list[int] = field([2], "shape of one latent point: [z] (flat) or [D, h, w] (spatial); "
                                         "a bare number N means [N]", positive_items=True, scalar_as_list=True)
    classes: int = field(0, "class labels a conditional model takes, in [0, classes) (0: unconditional)", min=0)

    @staticmethod
    def check(values: dict[str, Any], section: str) -> None:
        if len(values["input_shape"]) != 3:
            raise ConfigError(f"{section}.input_shape must be [channels, height, width]; got {values['input_shape']}")
        if not values["latent_shape"]:
            raise ConfigError(f"{section}.latent_shape must have at least one dimension")


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    epochs: int = field(10, "number of epochs", min=1)
    batch_size: int = field(32, "images per step (global, across all processes)", min=1)
    lr: float = field(5e-4, "learning rate (the schedule's starting value)", min=0.0)
    optimizer: Literal["adam", "adamw"] = field("adam", "adam (the book's) or adamw (decoupled weight decay)")
    adam_eps: float = field(1e-7, "Adam epsilon (Keras' default)", min=0.0)
    weight_decay: float = field(0.0, "weight decay (L2 for adam, decoupled for adamw)", min=0.0)
    schedule: Literal["step", "cosine"] = field("step", "learning-rate schedule per epoch: step (the book's "
                                                "decay) or cosine (from lr to min_lr over the stage's epochs)")
    lr_decay: float = field(1.0, "step schedule: lr = lr0 * decay^floor(epoch / lr_decay_step)", min=0.0)
    lr_decay_step: int = field(1, "step schedule: epochs between learning-rate decays", min=1)
    min_lr: float = field(0.0, "cosine schedule: the learning rate it ends at", min=0.0)
    seed: int = field(0, "seed for weights, data order and sampling", min=0)
    device: Literal["auto", "cpu", "cuda"] = field("auto", "where to train")
    precision: Literal["fp32", "bf16", "fp16"] = field("fp32", "autocast precision (fp16 on CUDA only)")
    channels_last: bool = field(True, "channels-last memory format (faster convolutions on CPU and GPU)")
    ema_decay: float = field(0.0, "averaged weights: the decay of an exponential moving average of the weights "
                                  "(0: none; e.g. 0.999), used for samples, evaluation and export", min=0.0)
    ema_start: int = field(0, "averaged weights: the optimizer step from which the average starts (a copy before)",
                           min=0)
    ema_modules: list[str] = field([], "averaged weights: the modules averaged, e.g. [\"decoder\"] (none: all)")
    lr_scales: dict[str, float] = field({}, "learning-rate multipliers by module path, e.g. "
                                        "{\"sampler.codebook\" = 10.0}: a parameter group each", min=0.0)
    fused_optimizer: bool = field(True, "one fused Adam kernel for all parameters instead of a loop over them")
    grad_clip: float = field(0.0, "clip the gradient norm to this value (0: off)", min=0.0)
    limit: int = field(0, "train on the first N training images (0: all)", min=0)
    checkpoint_every: int = field(0, "also checkpoint every N steps within an epoch (0: per epoch only)", min=0)
    samples: int = field(64, "images decoded from the prior into RUN/samples/ each epoch (0: none)", min=0)
    threads: int = field(0, "CPU threads for torch (0: torch's default)", min=0)
    log: list[str] = field([], "extra logs: tensorboard (event files in RUN/tensorboard/)", choices=("tensorboard",))

    @staticmethod
    def check(values: dict[str, Any], section: str) -> None:
        # settings that each pass their own bounds but contradict one another
        if not values["ema_decay"] < 1.0:
            raise ConfigError(f"{section}.ema_decay must be below 1 (0 turns the average off); got "
                              f"{values['ema_decay']:g}")
        if values["schedule"] == "cosine" and values["min_lr"] > values["lr"]:
            raise ConfigError(f"{section}.min_lr ({values['min_lr']:g}) is above {section}.lr ({values['lr']:g}): the "
                              f"cosine schedule falls from lr to min_lr; set min_lr <= lr")


@dataclasses.dataclass(frozen=True)
class DataSettings:
    name: str = field("fashion-mnist", "dataset name (`genkit list`), e.g. fashion-mnist, mnist, folder:PATH, npz:PATH")
    workers: int = field(2, "DataLoader worker processes for datasets read from disk", min=0)


@dataclasses.dataclass(frozen=True)
class StageSettings:
    """A training stage after the first, on the first one's frozen result (e.g. a prior over its codes).

    It trains only the modules named in ``trains`` (paths in the model, e.g. ``sampler.prior_network``)
    with its own registered ``loss`` and that loss's ``loss_settings``; ``lr`` and ``batch_size``
    default to the training section's.
    """

    name: str = field("", "the stage's name (letters, digits, '-' and '_')")
    loss: str = field("", "registered loss the stage minimises")
    trains: list[str] = field([], "the model's modules this stage trains, e.g. sampler.prior_network")
    epochs: int = field(10, "epochs of this stage", min=1)
    lr: float | None = field(None, "learning rate (default: training.lr)", min=0.0)
    batch_size: int | None = field(None, "images per step (default: training.batch_size)", min=1)
    loss_settings: Any = field(None, "the stage loss's own settings")


@dataclasses.dataclass(frozen=True)
class PlayerSettings:
    """One player of the main stage: a named group of the model's modules with its own loss and optimizer.

    A recipe with players trains them in turn, one batch a step: each takes ``steps`` steps (batches) in
    list order, then the cycle starts again (a critic's 5 steps, then the generator's 1). A player trains
    only the modules under ``trains`` (paths in the model, as a stage's; a network a loss owns is under
    ``player_losses.NAME``), minimising its registered ``loss`` (empty: the model's own loss) with its
    own optimizer; unset optimizer settings default to the training section's.
    """

    name: str = field("", "the player's name (letters, digits, '-' and '_')")
    loss: str = field("", "registered loss the player minimises (empty: the model's own loss)")
    trains: list[str] = field([], "the model's modules this player trains, e.g. decoder or player_losses.critic")
    steps: int = field(1, "steps (one batch each) the player takes in its turn", min=1)
    optimizer: Literal["adam", "adamw"] | None = field(None, "adam or adamw (default: training.optimizer)")
    lr: float | None = field(None, "learning rate (default: training.lr)", min=0.0)
    betas: list[float] = field([0.9, 0.999], "Adam's beta1 and beta2 (WGAN-GP: [0.5, 0.9])", min=0.0)
    weight_decay: float | None = field(None, "weight decay (default: training.weight_decay)", min=0.0)
    schedule: Literal["step", "cosine"] | None = field(None, "learning-rate schedule from this player's lr, with "
                                                       "training's decay settings (default: training.schedule)")
    grad_clip: float | None = field(None, "clip this player's gradient norm (default: training.grad_clip)", min=0.0)
    loss_settings: Any = field(None, "the player loss's own settings")

    @staticmethod
    def check(values: dict[str, Any], section: str) -> None:
        if len(values["betas"]) != 2 or not all(b < 1.0 for b in values["betas"]):
            raise ConfigError(f"{section}.betas must be two numbers in [0, 1), e.g. [0.5, 0.9]; got {values['betas']}")



@dataclasses.dataclass(frozen=True)
class NoSettings:
    """The settings of a part the model does not have (a generator-only model's encoder)."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A validated run configuration: ``config.training.batch_size``, ``config.encoder.filters``, ..."""

    recipe: str
    model: ModelSettings
    training: TrainingSettings
    data: DataSettings
    encoder: Any
    sampler: Any
    decoder: Any
    loss: Any
    stages: tuple[StageSettings, ...] = ()
    schedules: dict[str, SettingSchedule] = dataclasses.field(default_factory=dict)  # "loss.NAME" -> schedule
    players: tuple[PlayerSettings, ...] = ()  # none: one player, the model's loss over every module

    @property
    def generator_only(self) -> bool:
        """A model without an encoder: it generates from its prior and cannot encode or reconstruct."""
        return self.model.encoder == NO_ENCODER

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (config.json, export metadata); ``validate`` reads it back."""
        out = {"recipe": self.recipe}
        for name in ("model", "training", "data", *COMPONENT_KINDS):
            out[name] = dataclasses.asdict(getattr(self, name))
        out["stages"] = [dataclasses.asdict(stage) for stage in self.stages]
        if self.players:  # absent rather than empty, as schedules
            out["players"] = [dataclasses.asdict(player) for player in self.players]
        if self.schedules:  # absent rather than empty: unscheduled runs keep the config.json they always had
            out["schedules"] = {setting: dataclasses.asdict(s) for setting, s in self.schedules.items()}
        return out

    def replace(self, section: str, **values: Any) -> RunConfig:
        """A copy with some settings of one section changed (not validated again: callers pass valid values)."""
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **values)})

    def component_settings(self, kind: str) -> dict[str, Any]:
        """A component's settings as the keyword arguments it is built with."""
        return dataclasses.asdict(getattr(self, kind))


CORE_SECTIONS: dict[str, type] = {"model": ModelSettings, "training": TrainingSettings, "data": DataSettings}
STAGE_FIELDS = tuple(f.name for f in dataclasses.fields(StageSettings))

# `genkit train --fast`: the fastest CPU configuration `python -m benchmarks fast_training` found, applied
# before the user's own settings. Channels-last and the fused optimizer are already the defaults (same
# results, faster); bf16 is not, because it changes the numbers and is fast only on CPUs with AVX512_BF16
# or AMX (or on a GPU): elsewhere it is several times slower than fp32.
FAST_TRAINING: dict[str, Any] = {"precision": "bf16", "channels_last": True, "fused_optimizer": True}
