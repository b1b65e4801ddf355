"""The one training loop every genkit model trains with.

It knows the four component interfaces and nothing about any concrete model: a VAE and its AE
ablation differ only in what the registry hands it. One ``Trainer`` handles precision, the learning-
rate schedule, checkpoints and exact resume, metrics, sample grids and NaN detection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genkit import atomic, distributed, sharding
from genkit import checkpoint as ckpt
from genkit.errors import ConfigError, TrainingError
from genkit.progress import Progress
from genkit.random_state import keep_global_rng, restore_rng, rng_state
from genkit.stop_signals import StopRequest, TrainingInterrupted

__all__ = ["Trainer", "TrainResult", "TrainingInterrupted", "autocast", "resolve_device", "summary_json", "train"]

SAMPLE_SEED_OFFSET = 7919  # the prior points of the per-epoch sample grid: fixed, so grids are comparable
EVAL_SEED_OFFSET = 104729  # the noise of the test-set evaluation: fixed, so test losses are comparable
NOISE_SEED_OFFSET = 15485863  # the sampler's training noise: its own stream, untouched by anything else


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device is 'cuda' but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("training.precision 'fp16' needs a CUDA device; on CPU use 'bf16' or 'fp32'")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def format_terms(terms: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in terms.items())


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    metrics: list[dict[str, Any]]


class Trainer:
    """Trains ``config`` (a validated configuration) into ``run_dir``.

    ``resume=True`` continues from ``run_dir/checkpoint.safetensors`` at the exact step it stopped.
    Building one checks device, precision, data and model, and writes nothing: ``run_dir`` may come later.
    ``dataset`` may be given to skip loading one by name (benchmarks hold data in memory).
    ``dist`` places this process in a torchrun launch (``genkit.distributed.start``); by default the
    trainer is a single process. ``training.batch_size`` is the global batch either way.
    """

    def __init__(self, config: dict[str, Any], run_dir: str | Path | None, *, resume: bool = False,
                 dataset: Any = None, progress: bool = True, log: Callable[[str], None] | None = None,
                 dist: distributed.Distributed | None = None):
        from genkit.data import load_dataset
        from genkit.data.dataset import require_images
        from genkit.model import build_model

        self.config, self.resume = config, resume
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.t = config["training"]
        self.dist = dist or distributed.SINGLE
        self.is_main = self.dist.is_main  # rank 0 of a distributed run; the only one that writes
        self.log = (log or (lambda line: print(line, file=sys.stderr, flush=True))) if self.is_main \
            else (lambda line: None)
        self.show_progress = progress
        if self.t["threads"]:
            torch.set_num_threads(self.t["threads"])
        self.device = self.dist.device(resolve_device(self.t["device"]))
        autocast(self.device, self.t["precision"])  # validates precision against the device early
        sharding.check_batch_size(self.t["batch_size"], self.dist.world_size)

        shape = tuple(config["model"]["input_shape"])
        self.dataset = dataset if dataset is not None else load_dataset(config["data"]["name"], shape)
        self.train_split = self.dataset.split("train")
        if self.t["limit"]:
            self.train_split = self.train_split.limit(self.t["limit"])
        self.test_split = self.dataset.split("test")
        for split in (self.train_split, self.test_split):
            require_images(split, config["data"]["name"])

        torch.manual_seed(self.t["seed"])  # weight initialisation
        self.model = build_model(config).to(self.device)
        if self.t["channels_last"]:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.t["lr"], eps=self.t["adam_eps"],
                                          fused=self.t["fused_optimizer"] or None)
        self.scaler = torch.amp.GradScaler("cuda") if self.t["precision"] == "fp16" else None
        self.data_gen = torch.Generator().manual_seed(self.t["seed"])
        self.noise_gen = torch.Generator(device=self.device).manual_seed(self.t["seed"] + NOISE_SEED_OFFSET)
        # What a training step calls: the loss, through DistributedDataParallel in a torchrun launch
        self.loss_of = self.dist.wrap_loss(self.model, self.device)
        self.state = ckpt.TrainerState()
        self.metrics: list[dict[str, Any]] = []
        self.terms = tuple(self.model.loss.terms)
        self.stop = StopRequest(repeat_aborts=not self.dist.active, announce=self.is_main)

    def into(self, run_dir: str | Path, resume: bool = False) -> Trainer:
        """Train into ``run_dir``, a folder created after this trainer was built (and so validated)."""
        self.run_dir, self.resume = Path(run_dir), resume
        return self

    def generators(self) -> dict[str, torch.Generator]:
        """The generators saved with each checkpoint, so a resumed run draws what the original would."""
        return {"data": self.data_gen, "noise": self.noise_gen}

    # -- lifecycle --------------------------------------------------------------------------------

    def setup_run_dir(self) -> None:
        if self.is_main:
            atomic.remove_temporaries(self.run_dir)  # what killed writes left: nothing reads them
            if self.t["samples"]:  # refuse a samples link out of the folder up front
                atomic.remove_temporaries(ckpt.run_path(self.run_dir, ckpt.SAMPLES_DIR))
        if self.resume and ckpt.has_checkpoint(self.run_dir):
            self.state = ckpt.load_checkpoint(self.run_dir, self.model, self.optimizer)
            ckpt.check_position(self.state, len(self.train_split), self.t["batch_size"],
                                self.run_dir / ckpt.CHECKPOINT_FILE)
            restore_rng(self.state.rng, self.generators())
            if self.scaler is not None and "scaler" in self.state.extra:
                self.scaler.load_state_dict(self.state.extra["scaler"])
            # the checkpoint commits the epochs it records; anything logged after it is work to be redone
            self.metrics = self.state.metrics if self.state.metrics is not None else [
                m for m in ckpt.read_metrics(self.run_dir) if m["epoch"] <= self.state.epoch]
            self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1}, step {self.state.step}")
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
            epochs = self.t["epochs"]
            if self.state.epoch >= epochs:
                self.log(f"{self.run_dir} already has {self.state.epoch} epochs; raise --epochs to train further")
            while self.state.epoch < epochs:
                record = self.train_epoch()
                if record is None:  # stopped mid-epoch; the checkpoint is written
                    self.interrupted()
                self.metrics.append(record)
                self.state = ckpt.TrainerState(epoch=record["epoch"], global_step=self.state.global_step)
                self.save()  # the checkpoint commits the epoch; what follows can be rebuilt from it
                if self.is_main:
                    ckpt.write_metrics(self.run_dir, self.metrics)
                    self.save_samples(record["epoch"])
                self.log(self.epoch_line(record))
                if self.stop_agreed() and self.state.epoch < epochs:
                    self.interrupted()
        return TrainResult(self.run_dir, self.state.epoch, self.metrics)

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
        ckpt.save_checkpoint(self.run_dir, self.model, self.optimizer, self.state)
        ckpt.save_weights(self.run_dir, self.model, self.state.epoch)

    def repair(self) -> None:
        """Rewrite what follows from the checkpoint where a kill (or damage) left it behind or broken."""
        ckpt.repair_metrics(self.run_dir, self.metrics)
        epoch = self.state.epoch
        if self.t["samples"] and epoch and not self.state.step and not self.sample_path(epoch).exists():
            self.save_samples(epoch)
        if ckpt.repair_weights(self.run_dir, self.model, epoch):
            self.log(f"repaired {self.run_dir / ckpt.WEIGHTS_FILE} from {ckpt.CHECKPOINT_FILE}")

    # -- one epoch --------------------------------------------------------------------------------

    def learning_rate(self, epoch: int) -> float:
        return self.t["lr"] * self.t["lr_decay"] ** (epoch // self.t["lr_decay_step"])

    def train_epoch(self) -> dict[str, Any] | None:
        """Train to the end of the epoch; ``None`` if a stop request ended it early (after a checkpoint)."""
        from genkit.data import batches

        epoch, bs, n = self.state.epoch, self.t["batch_size"], len(self.train_split)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(epoch)
        if self.state.permutation is None:
            self.state.permutation = torch.randperm(n, generator=self.data_gen)
        start_step = self.state.step
        order, shards = self.dist.shard(self.state.permutation[start_step * bs:], bs)
        partial = self.state.extra.pop("partial", None)
        carried = partial if partial and self.is_main else None  # sums over all ranks: one rank carries them
        totals = torch.tensor(carried["totals"] if carried else [0.0] * len(self.terms), device=self.device)
        seen, seconds = (carried["seen"] if carried else 0), (partial["seconds"] if partial else 0.0)
        steps = math.ceil(n / bs)
        progress = Progress(steps, f"epoch {epoch + 1}/{self.t['epochs']}", enabled=self.show_progress and self.is_main)
        check_every = 1 if self.device.type == "cpu" else 25  # a finiteness check syncs the GPU
        every = self.t["checkpoint_every"]
        self.model.train()
        started = time.perf_counter()
        data = keep_global_rng(batches(self.train_split, bs // self.dist.world_size, order,
                                       self.config["data"]["workers"], self.device))
        for step, shard, (x, _) in zip(range(start_step, steps), shards, data, strict=True):
            with self.dist.global_batch(shard):
                values = self.train_step(x) if shard.weight == 1 else self.train_step(x, shard.weight)
            if shard.counted:
                totals += values * shard.counted
                seen += shard.counted
            self.state.step, self.state.global_step = step + 1, self.state.global_step + 1
            stopping = self.stop.requested and not self.dist.active
            if (step + 1) % check_every == 0 or step + 1 == steps:
                means, stopping = self.sync_step(values, shard)
                if not math.isfinite(float(means[0])):
                    self.stop_on_nan(epoch, step, means)
            if progress.due():
                progress.update(step + 1, self.status(totals / max(seen, 1), seen,
                                                      seconds + time.perf_counter() - started))
            if ((every and (step + 1) % every == 0) or stopping) and step + 1 < steps:
                self.save_partial(totals, seen, seconds + time.perf_counter() - started)
                if stopping:
                    progress.close()
                    return None
        seconds += time.perf_counter() - started
        summed = self.dist.all_reduce_sum(torch.cat([totals.double(), torch.tensor([seen], dtype=torch.float64,
                                                                                   device=self.device)]))
        seen = int(summed[-1].item())
        train_terms = (summed[:-1].float() / max(seen, 1)).cpu()
        if not all(math.isfinite(v) for v in train_terms.tolist()):
            self.stop_on_nan(epoch, steps - 1, train_terms)
        progress.update(steps, self.status(train_terms, seen, seconds), force=True)
        progress.close()
        if self.model.sampler.fits_prior:
            self.model.sampler.fit_prior(self.collect_codes(self.train_split))
        test = self.evaluate(self.test_split)
        if not all(math.isfinite(v) for v in test.values()):  # weights that score NaN are not a result
            self.stop_on_nan(epoch, steps - 1, torch.tensor(list(test.values())), "test loss")
        return {"epoch": epoch + 1,
                "train": dict(zip(self.terms, train_terms.tolist())),
                "test": test,
                "seconds": round(seconds, 3),
                "images_per_second": round(seen / seconds, 1) if seconds > 0 else None,
                "lr": self.learning_rate(epoch)}

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

    def save_partial(self, totals: torch.Tensor, seen: int, seconds: float) -> None:
        """A mid-epoch checkpoint, with the running loss sums of all ranks so the epoch's mean is exact."""
        summed = self.dist.all_reduce_sum(torch.cat([totals.double(), torch.tensor([seen], dtype=torch.float64,
                                                                                   device=self.device)]))
        self.state.extra["partial"] = {"totals": summed[:-1].float().tolist(), "seen": int(summed[-1].item()),
                                       "seconds": seconds}
        self.save()
        self.state.extra.pop("partial")

    def train_step(self, x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        """One optimisation step; returns the loss terms (detached, in ``self.terms`` order).

        ``weight`` scales the loss that is minimised (not the returned terms): a rank holding an
        uneven share of a partial batch weighs it so that DDP's average over ranks is the batch mean.
        """
        if self.t["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.t["precision"]):
            if self.loss_of is not None:
                terms = self.loss_of(x, generator=self.noise_gen)
            else:
                terms = self.model.compute_loss(x, generator=self.noise_gen)
        loss = terms["loss"] if weight == 1 else terms["loss"] * weight
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.t["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.t["grad_clip"])
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return torch.stack([terms[k].detach().float() for k in self.terms])

    def status(self, means: torch.Tensor, seen: int, seconds: float) -> str:
        rate = f"{seen / seconds:.0f} img/s" if seconds > 0 else ""
        return f"{format_terms(dict(zip(self.terms, means.tolist())))} | {rate}"

    def stop_on_nan(self, epoch: int, step: int, values: torch.Tensor, what: str = "loss") -> None:
        kept = (f"the last good checkpoint (epoch {self.state.epoch}) in {self.run_dir} is kept"
                if ckpt.has_checkpoint(self.run_dir) else "no checkpoint had been written")
        raise TrainingError(
            f"the {what} became {values[0].item()} at epoch {epoch + 1}, step {step + 1}; training stopped and "
            f"{kept}. Try a lower --lr, --set training.grad_clip=1.0 or --precision fp32"
        )

    # -- evaluation and samples -------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split) -> dict[str, float]:
        """Mean loss terms over ``split``; each rank scores its rows of every batch, with the same noise."""
        from genkit.data import batches

        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(self.t["seed"] + EVAL_SEED_OFFSET)
        world = self.dist.world_size
        batch = world * math.ceil(max(256, self.t["batch_size"]) / world)
        order, shards = self.dist.shard(torch.arange(len(split)), batch)
        totals = torch.zeros(len(self.terms) + 1, dtype=torch.float64, device=self.device)
        loader = batches(split, batch // world, order, self.config["data"]["workers"], self.device)
        for shard, (x, _) in zip(shards, keep_global_rng(loader), strict=True):
            with self.dist.global_batch(shard), autocast(self.device, self.t["precision"]):
                terms = self.model.compute_loss(x, generator=gen)
            if shard.counted:
                totals[:-1] += torch.stack([terms[k].double() for k in self.terms]) * shard.counted
                totals[-1] += shard.counted
        totals = self.dist.all_reduce_sum(totals).cpu()
        self.model.train()
        return dict(zip(self.terms, (totals[:-1] / max(float(totals[-1]), 1.0)).tolist()))

    @torch.no_grad()
    def collect_codes(self, split) -> torch.Tensor:
        """Every image's latent code, in split order; each rank encodes one contiguous part."""
        from genkit.data import batches

        self.model.eval()
        part = torch.tensor_split(torch.arange(len(split)), self.dist.world_size)[self.dist.rank]
        codes = [self.model.codes(x) for x, _ in keep_global_rng(batches(
            split, 1024, part, self.config["data"]["workers"], self.device))]
        self.model.train()
        local = torch.cat(codes).float() if codes else torch.zeros((0, self.model.spec.z_dim), device=self.device)
        return self.dist.gather_rows(local)

    @torch.no_grad()
    def save_samples(self, epoch: int) -> None:
        from genkit.images import save_grid

        if not self.t["samples"]:
            return
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(self.t["seed"] + SAMPLE_SEED_OFFSET)
        images = self.model.generate(self.t["samples"], generator=gen).float().cpu().numpy()
        self.model.train()
        save_grid(images, self.sample_path(epoch))

    def sample_path(self, epoch: int) -> Path:
        return ckpt.run_path(self.run_dir, ckpt.SAMPLES_DIR, f"epoch-{epoch:04d}.png")

    def epoch_line(self, record: dict[str, Any]) -> str:
        return (f"epoch {record['epoch']}/{self.t['epochs']}: train {format_terms(record['train'])} | "
                f"test {format_terms(record['test'])} | {record['images_per_second']} img/s, {record['seconds']:.1f} s")


def train(config: dict[str, Any], run_dir: str | Path, **kwargs: Any) -> TrainResult:
    return Trainer(config, run_dir, **kwargs).run()


def summary_json(result: TrainResult) -> str:
    return json.dumps({"run": str(result.run_dir), "epochs": result.epochs,
                       "last": result.metrics[-1] if result.metrics else None})
