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

from genkit import checkpoint as ckpt
from genkit.errors import ConfigError, TrainingError
from genkit.progress import Progress

SAMPLE_SEED_OFFSET = 7919  # the prior points of the per-epoch sample grid: fixed, so grids are comparable
EVAL_SEED_OFFSET = 104729  # the noise of the test-set evaluation: fixed, so test losses are comparable


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


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    for name, gen in generators.items():
        if name in state:
            gen.set_state(state[name])


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
    ``dataset`` may be given to skip loading one by name (benchmarks hold data in memory).
    """

    def __init__(self, config: dict[str, Any], run_dir: str | Path, *, resume: bool = False,
                 dataset: Any = None, progress: bool = True, log: Callable[[str], None] | None = None):
        from genkit.data import load_dataset
        from genkit.model import build_model

        self.config, self.run_dir, self.resume = config, Path(run_dir), resume
        self.t = config["training"]
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.show_progress = progress
        if self.t["threads"]:
            torch.set_num_threads(self.t["threads"])
        self.device = resolve_device(self.t["device"])
        autocast(self.device, self.t["precision"])  # validates precision against the device early

        shape = tuple(config["model"]["input_shape"])
        self.dataset = dataset if dataset is not None else load_dataset(config["data"]["name"], shape)
        self.train_split = self.dataset.split("train")
        if self.t["limit"]:
            self.train_split = self.train_split.limit(self.t["limit"])
        self.test_split = self.dataset.split("test")

        torch.manual_seed(self.t["seed"])  # weight initialisation
        self.model = build_model(config).to(self.device)
        if self.t["channels_last"]:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.t["lr"], eps=self.t["adam_eps"])
        self.scaler = torch.amp.GradScaler("cuda") if self.t["precision"] == "fp16" else None
        self.data_gen = torch.Generator().manual_seed(self.t["seed"])
        self.state = ckpt.TrainerState()
        self.metrics: list[dict[str, Any]] = []
        self.terms = tuple(self.model.loss.terms)
        self.is_main = True  # rank 0 of a distributed run; the only one that writes

    # -- lifecycle --------------------------------------------------------------------------------

    def setup_run_dir(self) -> None:
        if self.resume:
            self.state = ckpt.load_checkpoint(self.run_dir, self.model, self.optimizer)
            restore_rng(self.state.rng, {"data": self.data_gen})
            if self.scaler is not None and "scaler" in self.state.extra:
                self.scaler.load_state_dict(self.state.extra["scaler"])
            # epochs logged after the checkpoint was written belong to work that is about to be redone
            self.metrics = [m for m in ckpt.read_metrics(self.run_dir) if m["epoch"] <= self.state.epoch]
            self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1}, step {self.state.step}")
        elif self.is_main:
            ckpt.write_config(self.run_dir, self.config)

    def run(self) -> TrainResult:
        self.setup_run_dir()
        epochs = self.t["epochs"]
        if self.state.epoch >= epochs:
            self.log(f"{self.run_dir} already has {self.state.epoch} epochs; raise --epochs to train further")
        while self.state.epoch < epochs:
            record = self.train_epoch()
            self.metrics.append(record)
            if self.is_main:
                ckpt.write_metrics(self.run_dir, self.metrics)
                self.save_samples(record["epoch"])
            self.state = ckpt.TrainerState(epoch=record["epoch"], global_step=self.state.global_step)
            self.save()
            self.log(self.epoch_line(record))
        return TrainResult(self.run_dir, self.state.epoch, self.metrics)

    def save(self) -> None:
        if not self.is_main:
            return
        self.state.rng = rng_state({"data": self.data_gen})
        if self.scaler is not None:
            self.state.extra["scaler"] = self.scaler.state_dict()
        ckpt.save_checkpoint(self.run_dir, self.model, self.optimizer, self.state)
        ckpt.save_weights(self.run_dir, self.model, self.state.epoch)

    # -- one epoch --------------------------------------------------------------------------------

    def learning_rate(self, epoch: int) -> float:
        return self.t["lr"] * self.t["lr_decay"] ** (epoch // self.t["lr_decay_step"])

    def train_epoch(self) -> dict[str, Any]:
        from genkit.data import batches

        epoch, bs, n = self.state.epoch, self.t["batch_size"], len(self.train_split)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(epoch)
        if self.state.permutation is None:
            self.state.permutation = torch.randperm(n, generator=self.data_gen)
        start_step = self.state.step
        partial = self.state.extra.pop("partial", None)
        totals = torch.tensor(partial["totals"] if partial else [0.0] * len(self.terms), device=self.device)
        seen, seconds = (partial["seen"], partial["seconds"]) if partial else (0, 0.0)
        steps = math.ceil(n / bs)
        progress = Progress(steps, f"epoch {epoch + 1}/{self.t['epochs']}", enabled=self.show_progress and self.is_main)
        check_every = 1 if self.device.type == "cpu" else 25  # a finiteness check syncs the GPU
        self.model.train()
        started = time.perf_counter()
        for step, (x, _) in enumerate(batches(self.train_split, bs, self.state.permutation[start_step * bs:],
                                              self.config["data"]["workers"], self.device), start_step):
            values = self.train_step(x)
            totals += values * len(x)
            seen += len(x)
            self.state.step, self.state.global_step = step + 1, self.state.global_step + 1
            if (step + 1) % check_every == 0 and not math.isfinite(float(values[0])):
                self.stop_on_nan(epoch, step, values)
            if progress.due():
                progress.update(step + 1, self.status(totals / seen, seen, seconds + time.perf_counter() - started))
            every = self.t["checkpoint_every"]
            if every and (step + 1) % every == 0 and step + 1 < steps:
                self.state.extra["partial"] = {"totals": totals.tolist(), "seen": seen,
                                               "seconds": seconds + time.perf_counter() - started}
                self.save()
                self.state.extra.pop("partial")
        seconds += time.perf_counter() - started
        train_terms = (totals / max(seen, 1)).cpu()
        if not all(math.isfinite(v) for v in train_terms.tolist()):
            self.stop_on_nan(epoch, steps - 1, train_terms)
        progress.update(steps, self.status(train_terms, seen, seconds), force=True)
        progress.close()
        if self.model.sampler.fits_prior:
            self.model.sampler.fit_prior(self.collect_codes(self.train_split))
        return {"epoch": epoch + 1,
                "train": dict(zip(self.terms, train_terms.tolist())),
                "test": self.evaluate(self.test_split),
                "seconds": round(seconds, 3),
                "images_per_second": round(seen / seconds, 1) if seconds > 0 else None,
                "lr": self.learning_rate(epoch)}

    def train_step(self, x: torch.Tensor) -> torch.Tensor:
        """One optimisation step; returns the loss terms (detached, in ``self.terms`` order)."""
        if self.t["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.t["precision"]):
            terms = self.model.compute_loss(x)
        loss = terms["loss"]
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

    def stop_on_nan(self, epoch: int, step: int, values: torch.Tensor) -> None:
        last = f"epoch {self.state.epoch}" if self.state.epoch else "none yet"
        raise TrainingError(
            f"the loss became {values[0].item()} at epoch {epoch + 1}, step {step + 1}; training stopped and "
            f"the last good checkpoint ({last}) in {self.run_dir} is kept. Try a lower --lr, "
            f"--set training.grad_clip=1.0 or --precision fp32"
        )

    # -- evaluation and samples -------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split) -> dict[str, float]:
        from genkit.data import batches

        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(self.t["seed"] + EVAL_SEED_OFFSET)
        totals, seen = torch.zeros(len(self.terms), dtype=torch.float64), 0
        order = torch.arange(len(split))
        for x, _ in batches(split, max(256, self.t["batch_size"]), order, self.config["data"]["workers"], self.device):
            with autocast(self.device, self.t["precision"]):
                terms = self.model.compute_loss(x, generator=gen)
            totals += torch.stack([terms[k].double().cpu() for k in self.terms]) * len(x)
            seen += len(x)
        self.model.train()
        return dict(zip(self.terms, (totals / max(seen, 1)).tolist()))

    @torch.no_grad()
    def collect_codes(self, split) -> torch.Tensor:
        from genkit.data import batches

        self.model.eval()
        codes = [self.model.codes(x) for x, _ in batches(split, 1024, torch.arange(len(split)),
                                                          self.config["data"]["workers"], self.device)]
        self.model.train()
        return torch.cat(codes).float()

    @torch.no_grad()
    def save_samples(self, epoch: int) -> None:
        from genkit.images import save_grid

        if not self.t["samples"]:
            return
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(self.t["seed"] + SAMPLE_SEED_OFFSET)
        images = self.model.generate(self.t["samples"], generator=gen).float().cpu().numpy()
        self.model.train()
        save_grid(images, self.run_dir / ckpt.SAMPLES_DIR / f"epoch-{epoch:04d}.png")

    def epoch_line(self, record: dict[str, Any]) -> str:
        return (f"epoch {record['epoch']}/{self.t['epochs']}: train {format_terms(record['train'])} | "
                f"test {format_terms(record['test'])} | {record['images_per_second']} img/s, {record['seconds']:.1f} s")


def train(config: dict[str, Any], run_dir: str | Path, **kwargs: Any) -> TrainResult:
    return Trainer(config, run_dir, **kwargs).run()


def summary_json(result: TrainResult) -> str:
    return json.dumps({"run": str(result.run_dir), "epochs": result.epochs,
                       "last": result.metrics[-1] if result.metrics else None})
