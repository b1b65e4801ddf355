"""The one training loop every genkit model trains with.

It knows the four component interfaces and nothing about any concrete model: a VAE and its AE
ablation differ only in what the registry hands it, and a model with a second stage (a prior fitted
on the first stage's codes) runs through the same loop with the same checkpoints and exact resume.
The ``Trainer`` owns the loop: steps, precision, the stage's players (one unless the recipe declares
several, each with its own loss and optimizer: ``genkit.training.players``) and schedule, NaN detection,
what a checkpoint holds. What happens around it (checkpoint timing, the metrics log, sample grids,
progress, TensorBoard) is ``genkit.training.callbacks``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from genkit.config import RunConfig
from genkit.contract.averaged import swapped_in
from genkit.errors import TrainingError
from genkit.files import atomic
from genkit.run import checkpoint as ckpt
from genkit.training import distributed, samples, scoring, sharding
from genkit.training.callbacks import Callback, CallbackList, CallbackSurface, default_callbacks, format_terms
from genkit.training.device import autocast, resolve_device
from genkit.training.optim import learning_rate
from genkit.training.random_state import keep_global_rng, restore_rng, rng_state
from genkit.training.running_terms import RunningTerms
from genkit.training.stages import Stage, set_mode, stages_of
from genkit.training.stop_signals import StopRequest

NOISE_SEED_OFFSET = 15485863  # the sampler's training noise: its own stream, untouched by anything else


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    metrics: list[dict[str, Any]]


class Trainer(CallbackSurface):
    """Trains ``config`` (a validated ``RunConfig``) into ``run_dir``.

    ``resume=True`` continues from ``run_dir/checkpoint.safetensors`` at the exact stage and step it
    stopped. Building one checks device, precision, data and model, and writes nothing: ``run_dir``
    may come later (``into``). ``dataset`` may be given to skip loading one by name (benchmarks hold
    data in memory). ``dist`` places this process in a torchrun launch; by default the trainer is a
    single process. ``callbacks`` run after the default ones (checkpoints, metrics, samples, epoch
    line, progress). ``training.batch_size`` is the global batch either way. What a callback may read
    of it is ``genkit.training.callbacks.CallbackSurface``'s list.
    """

    def __init__(self, config: RunConfig, run_dir: str | Path | None, *, resume: bool = False,
                 dataset: Any = None, progress: bool = True, log: Callable[[str], None] | None = None,
                 dist: distributed.Distributed | None = None, callbacks: Sequence[Callback] = ()):
        from genkit.contract.model import build_model
        from genkit.data import load_dataset
        from genkit.data.dataset import require_images, require_labels

        self.config, self.resume = config, resume
        self.run_dir = Path(run_dir) if run_dir is not None else None
        t = config.training
        self.dist = dist or distributed.SINGLE
        self.is_main = self.dist.is_main  # rank 0 of a distributed run; the only one that writes
        self.log = (log or (lambda line: print(line, file=sys.stderr, flush=True))) if self.is_main \
            else (lambda line: None)
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = self.dist.device(resolve_device(t.device))
        autocast(self.device, t.precision)  # validates precision against the device early
        self.stages = stages_of(config)
        for stage in self.stages:
            sharding.check_batch_size(stage.batch_size, self.dist.world_size)
        extra = list(callbacks)
        if config.schedules:
            from genkit.training.schedules import SettingSchedules

            extra.insert(0, SettingSchedules(config.schedules))
        if "tensorboard" in t.log:
            from genkit.training.tensorboard import TensorBoardLog

            extra.insert(0, TensorBoardLog())
        self.callbacks = CallbackList([*default_callbacks(progress), *extra], self.is_main)

        shape = tuple(config.model.input_shape)
        self.dataset = dataset if dataset is not None else load_dataset(config.data.name, shape)
        self.train_split = self.dataset.split("train")
        if t.limit:
            self.train_split = self.train_split.limit(t.limit)
        self.test_split = self.dataset.split("test")
        for split in (self.train_split, self.test_split):
            require_images(split, config.data.name)
            if config.model.classes:
                require_labels(split, config.model.classes, config.data.name)

        torch.manual_seed(t.seed)  # weight initialisation
        self.model = build_model(config).to(self.device)
        if t.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.check_fit()  # components that do not fit each other are named before any run folder exists
        self.scaler = torch.amp.GradScaler("cuda") if t.precision == "fp16" else None
        self.data_gen = torch.Generator().manual_seed(t.seed)
        self.noise_gen = torch.Generator(device=self.device).manual_seed(t.seed + NOISE_SEED_OFFSET)
        self.state = ckpt.TrainerState()
        self.enter_stage(self.stages[0])
        self.metrics: list[dict[str, Any]] = []
        self.stop = StopRequest(repeat_aborts=not self.dist.active, announce=self.is_main)
        self.steps_in_epoch = 0

    def check_fit(self, images: int = 4) -> None:
        """One pass over a few training images, naming the components that do not fit each other."""
        from genkit.contract.fit import check_fit
        from genkit.data import batches

        count = min(images, len(self.train_split))
        x, labels = next(batches(self.train_split, count, torch.arange(count), device=self.device))
        check_fit(self.model, x, labels)

    def into(self, run_dir: str | Path, resume: bool = False) -> Trainer:
        """Train into ``run_dir``, a folder created after this trainer was built (and so validated)."""
        self.run_dir, self.resume = Path(run_dir), resume
        return self

    def enter_stage(self, stage: Stage) -> None:
        """Make ``stage`` current: its players (one unless the recipe declares several), each with a fresh
        optimizer over the parameters it trains, and the names of their loss terms."""
        from genkit.training.players import players_of, turns

        self.stage = stage
        self.players = players_of(self, stage)
        self.turns = turns(self.players)
        self.terms = tuple(label for player in self.players for label in player.labels)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The first player's optimizer (the only one, unless the recipe declares players)."""
        return self.players[0].optimizer

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every player's optimizer, by player name, in turn order."""
        return {player.name: player.optimizer for player in self.players}

    def player_at(self, global_step: int):
        """Whose turn step ``global_step`` (0-based over the run) is."""
        return self.turns[global_step % len(self.turns)]

    def stage_at(self, index: int) -> Stage:
        return self.stages[min(index, len(self.stages) - 1)]

    def generators(self) -> dict[str, torch.Generator]:
        """The generators saved with each checkpoint, so a resumed run draws what the original would."""
        return {"data": self.data_gen, "noise": self.noise_gen}

    # -- lifecycle --------------------------------------------------------------------------------

    def setup_run_dir(self) -> None:
        if self.is_main:
            atomic.remove_temporaries(self.run_dir)  # what killed writes left: nothing reads them
            if self.config.training.samples:  # refuse a samples link out of the folder up front
                atomic.remove_temporaries(ckpt.run_path(self.run_dir, ckpt.SAMPLES_DIR))
        if self.resume and ckpt.has_checkpoint(self.run_dir):
            def optimizers_for(index: int) -> dict[str, torch.optim.Optimizer]:
                self.enter_stage(self.stage_at(index))
                return self.optimizers

            self.state = ckpt.load_checkpoint(self.run_dir, self.model, optimizers_for)
            ckpt.check_position(self.state, len(self.train_split), self.stage.batch_size,
                                self.run_dir / ckpt.CHECKPOINT_FILE)
            ckpt.check_turn(self.state, self.player_at(self.state.global_step).name, len(self.turns),
                            self.run_dir / ckpt.CHECKPOINT_FILE)
            restore_rng(self.state.rng, self.generators())
            if self.scaler is not None and "scaler" in self.state.extra:
                self.scaler.load_state_dict(self.state.extra["scaler"])
            # the checkpoint commits the epochs it records; anything logged after it is work to be redone
            self.metrics = self.state.metrics if self.state.metrics is not None else [
                m for m in ckpt.read_metrics(self.run_dir) if m["epoch"] <= self.state.epoch]
            where = f" ({self.stage.name} stage)" if len(self.stages) > 1 else ""
            self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1}, step {self.state.step}{where}")
            if self.is_main:
                self.repair()
        elif self.resume:  # stopped before its first checkpoint (prepare_resume_dir checked it is empty)
            self.log(f"{self.run_dir} has no checkpoint yet: training it from the start")
        elif self.is_main:
            ckpt.write_config(self.run_dir, self.config, distributed.launch_id() if self.dist.active else None)
        self.dist.barrier()  # no rank starts before the run folder is ready

    def run(self) -> TrainResult:
        with self.stop.installed():
            self.setup_run_dir()
            self.callbacks.on_fit_start(self)
            total = self.stages[-1].last_epoch
            if self.state.epoch >= total:
                self.log(f"{self.run_dir} already has {self.state.epoch} epochs; raise --epochs to train further")
            for stage in self.stages[self.stage.index:]:
                if self.state.epoch >= stage.last_epoch:
                    continue
                if stage is not self.stage:
                    self.enter_stage(stage)
                    self.state.stage = stage.index
                self.callbacks.on_stage_start(self, stage)
                while self.state.epoch < stage.last_epoch:
                    record = self.train_epoch()
                    if record is None:  # stopped mid-epoch; the checkpoint is written
                        self.interrupted()
                    self.metrics.append(record)
                    self.state = ckpt.TrainerState(epoch=record["epoch"], global_step=self.state.global_step,
                                                   stage=stage.index)
                    self.callbacks.on_epoch_end(self, record)  # the checkpoint first: it commits the epoch
                    if self.stop_agreed() and self.state.epoch < total:
                        self.interrupted()
        result = TrainResult(self.run_dir, self.state.epoch, self.metrics)
        self.callbacks.on_fit_end(self, result)
        return result

    def stop_agreed(self) -> bool:
        """Whether any rank was asked to stop (every rank must call this at the same point)."""
        flag = torch.tensor([1.0 if self.stop.requested else 0.0], device=self.device)
        return bool(self.dist.all_reduce_sum(flag).item() > 0)

    def interrupted(self) -> None:
        raise self.stop.error(self.run_dir, self.state.epoch, self.state.step, self.dist.world_size)

    def save(self) -> None:
        if not self.is_main:
            return
        self.state.metrics = list(self.metrics)
        self.state.rng = rng_state(self.generators())
        if self.scaler is not None:
            self.state.extra["scaler"] = self.scaler.state_dict()
        if len(self.players) > 1:  # whose turn the next step is: a resume checks the cycle is the same
            self.state.extra["turn"] = {"player": self.player_at(self.state.global_step).name,
                                        "position": self.state.global_step % len(self.turns), "cycle": len(self.turns)}
        ckpt.save_checkpoint(self.run_dir, self.model, self.optimizers, self.state)
        ckpt.save_weights(self.run_dir, self.model, self.state.epoch)

    def repair(self) -> None:
        """Rewrite what follows from the checkpoint where a kill (or damage) left it behind or broken."""
        ckpt.repair_metrics(self.run_dir, self.metrics)
        epoch = self.state.epoch
        if self.config.training.samples and epoch and not self.state.step and not self.sample_path(epoch).exists():
            self.save_samples(epoch)
        if ckpt.repair_weights(self.run_dir, self.model, epoch):
            self.log(f"repaired {self.run_dir / ckpt.WEIGHTS_FILE} from {ckpt.CHECKPOINT_FILE}")

    # -- one epoch --------------------------------------------------------------------------------

    def learning_rate(self, epoch: int) -> float:
        """The rate of global ``epoch`` (0-based), from the schedule of the stage it belongs to."""
        stage = self.stage
        return learning_rate(self.config.training, stage.lr, epoch - stage.first_epoch, stage.epochs)

    def train_epoch(self) -> dict[str, Any] | None:
        """Train to the end of the epoch; ``None`` if a stop request ended it early (after a checkpoint)."""
        from genkit.data import batches

        epoch, bs, n = self.state.epoch, self.stage.batch_size, len(self.train_split)
        for player in self.players:
            for group in player.optimizer.param_groups:
                group["lr"] = player.learning_rate(self, epoch) * group.get("lr_scale", 1.0)
        if self.state.permutation is None:
            self.state.permutation = torch.randperm(n, generator=self.data_gen)
        start_step = self.state.step
        order, shards = self.dist.shard(self.state.permutation[start_step * bs:], bs)
        partial = self.state.extra.pop("partial", None)
        carried = partial if partial and self.is_main else None  # sums over all ranks: one rank carries them
        self.running = RunningTerms(self.players, self.device, carried)
        self.seconds = partial["seconds"] if partial else 0.0
        steps = self.steps_in_epoch = math.ceil(n / bs)
        self.callbacks.on_epoch_start(self, epoch, steps, start_step)
        check_every = 1 if self.device.type == "cpu" else 25  # a finiteness check syncs the GPU
        set_mode(self.model, self.stage, True)
        self.started = time.perf_counter()
        data = keep_global_rng(batches(self.train_split, bs // self.dist.world_size, order,
                                       self.config.data.workers, self.device))
        several = len(self.players) > 1
        for step, shard, (x, labels) in zip(range(start_step, steps), shards, data, strict=True):
            player = self.player_at(self.state.global_step) if several else self.players[0]
            with self.dist.global_batch(shard):
                values = self.train_step(x, labels, shard.weight, player)
            if shard.counted:
                self.running.add(player, values, shard.counted)
            self.state.step, self.state.global_step = step + 1, self.state.global_step + 1
            stopping = self.stop.requested and not self.dist.active
            # every player's terms are checked: with turns, at each step (each step is one player's)
            if several or (step + 1) % check_every == 0 or step + 1 == steps:
                means, stopping = self.sync_step(values, shard)
                if not math.isfinite(float(means[0])):
                    self.stop_on_nan(epoch, step, means, player=player.name if several else None)
            self.callbacks.on_step_end(self, step + 1, self.running_status)
            if stopping and step + 1 < steps:
                self.save_partial()
                return None
        seconds = self.seconds + time.perf_counter() - self.started
        train_terms, seen = self.running.means(self.dist)
        if not all(math.isfinite(v) for v in train_terms.tolist()):
            self.stop_on_nan(epoch, steps - 1, train_terms)
        set_mode(self.model, self.stage, False)
        if self.stage.index == 0 and self.model.sampler.fits_prior and not self.model.generator_only:
            self.model.sampler.fit_prior(scoring.collect_codes(self.model, self.train_split, device=self.device,
                                                               workers=self.config.data.workers, dist=self.dist))
        test = self.evaluate(self.test_split)
        if not all(math.isfinite(v) for v in test.values()):  # weights that score NaN are not a result
            self.stop_on_nan(epoch, steps - 1, torch.tensor(list(test.values())), "test loss")
        record = {"epoch": epoch + 1, "train": dict(zip(self.terms, train_terms.tolist())), "test": test,
                  "seconds": round(seconds, 3), "images_per_second": round(seen / seconds, 1) if seconds > 0 else None,
                  "lr": self.learning_rate(epoch)}
        if len(self.players) > 1:  # each player's rate, by name ("lr" is the first player's)
            record["lr"] = self.players[0].learning_rate(self, epoch)
            record["player_lr"] = {player.name: player.learning_rate(self, epoch) for player in self.players}
        if len(self.stages) > 1:
            record["stage"] = self.stage.name
        self.callbacks.on_epoch_record(self, record)
        return record

    def running_status(self) -> str:
        elapsed = self.seconds + time.perf_counter() - self.started
        rate = f"{self.running.seen / elapsed:.0f} img/s" if elapsed > 0 else ""
        return f"{format_terms(dict(zip(self.terms, self.running.local_means().tolist())))} | {rate}"

    def sync_step(self, values: torch.Tensor, shard: sharding.Shard) -> tuple[torch.Tensor, bool]:
        """The step's loss terms over the whole global batch, and whether any rank was asked to stop.

        Every rank calls this at the same steps, so every rank stops (or raises on NaN) at the same
        step and none is left waiting in a collective for a peer that has gone.
        """
        if not self.dist.active:
            return values, self.stop.requested
        local = values * shard.counted if shard.counted else torch.zeros_like(values)
        extra = torch.tensor([float(self.stop.requested), float(shard.counted)], device=values.device)
        summed = self.dist.all_reduce_sum(torch.cat([local.float(), extra]))
        return summed[:-2] / summed[-1], bool(summed[-2].item() > 0)

    def save_partial(self) -> None:
        """A mid-epoch checkpoint, with the running loss sums of all ranks so the epoch's mean is exact."""
        seconds = self.seconds + time.perf_counter() - self.started
        self.state.extra["partial"] = {**self.running.carried(self.dist), "seconds": seconds}
        self.save()
        self.state.extra.pop("partial")

    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None, weight: float = 1.0,
                   player=None) -> torch.Tensor:
        """One optimisation step of ``player`` (the first, by default); returns its loss terms (detached, in its
        ``terms`` order). ``weight`` scales the minimised loss (see ``Player.step``)."""
        player = player or self.players[0]
        if len(self.players) > 1:
            player.take_turn(self.model)
        return player.step(self, x, labels, weight)

    def stop_on_nan(self, epoch: int, step: int, values: torch.Tensor, what: str = "loss",
                    player: str | None = None) -> None:
        kept = (f"the last good checkpoint (epoch {self.state.epoch}) in {self.run_dir} is kept"
                if ckpt.has_checkpoint(self.run_dir) else "no checkpoint had been written")
        listed = values.tolist()
        bad = next((i for i, v in enumerate(listed) if not math.isfinite(v)), 0)
        if player is not None:
            what = f"player {player!r}'s {what}"
        elif len(self.players) > 1 and len(listed) == len(self.terms):  # an epoch's means: name the term
            what = f"{what} term {self.terms[bad]!r}"
        raise TrainingError(
            f"the {what} became {listed[bad]} at epoch {epoch + 1}, step {step + 1}; training stopped and "
            f"{kept}. Try a lower --lr, --set training.grad_clip=1.0 or --precision fp32"
        )

    # -- evaluation and samples -------------------------------------------------------------------

    def evaluate(self, split) -> dict[str, float]:
        """Mean loss terms of the current stage over ``split``."""
        t = self.config.training
        was_training = self.model.training
        self.model.eval()
        try:
            scores: dict[str, float] = {}
            with swapped_in(self.model):  # a model with averaged weights is scored with them
                for player in self.players:  # each player's loss over the whole split, with the same noise
                    scored = scoring.score_split(self.model, split, stage=self.stage.loss, player=player.player,
                                                 terms=player.terms, seed=t.seed, batch_size=self.stage.batch_size,
                                                 precision=t.precision, workers=self.config.data.workers,
                                                 device=self.device, dist=self.dist)
                    scores.update(zip(player.labels, scored.values()))
            return scores
        finally:
            self.model.train(was_training)

    def save_samples(self, epoch: int) -> None:
        samples.save_grid_of(self, epoch)

    def sample_path(self, epoch: int) -> Path:
        return samples.grid_path(self.run_dir, epoch)
