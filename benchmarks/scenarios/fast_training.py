"""Fast training: each speed option alone and combined, against the hand-written fp32 loop.

Every variant is genkit's real ``Trainer`` on the same in-memory images, interleaved round by round
with the hand-written loop. The shipped preset (``genkit train --fast``) is one of them. In full mode
the preset also trains one whole epoch next to plain fp32, and both are scored on the whole test
split in fp32, so the speed is only claimed together with the loss it reaches.
"""

from __future__ import annotations

import dataclasses
import math

from ..context import Context
from ..result import Result, Target
from ..workloads import build_trainer, handwritten_window, trainer_window, window_images

NAME = "fast_training"
TITLE = "Fast CPU training configurations (batch 32 unless stated)"
SPEED_GOAL = 2.0
LOSS_TOLERANCE = 0.02
BF16 = 'training.precision="bf16"'
NCHW = "training.channels_last=false"
FOR_LOOP_ADAM = "training.fused_optimizer=false"
PLAIN = "fp32, NCHW, for-loop Adam (plain PyTorch defaults)"


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str
    overrides: tuple[str, ...] = ()
    foreach: bool = False  # Adam's foreach kernel (``ForeachAdam``): measured only, genkit's choice is the fused one
    compile: bool = False
    batch: int = 32
    role: str = ""  # "preset" or "large": the rows the targets and the loss comparison use

    def settings(self) -> list[str]:
        extra = [f"training.batch_size={self.batch}"]
        if self.batch != 32:  # Adam's usual square-root scaling of the learning rate with the batch
            extra.append(f"training.lr={5e-4 * math.sqrt(self.batch / 32):.6g}")
        return [*self.overrides, *extra]


def preset_overrides() -> tuple[str, ...]:
    """``genkit train --fast`` as ``--set`` overrides."""
    from genkit.config import FAST_TRAINING, toml_value

    return tuple(f"training.{key}={toml_value(value)}" for key, value in FAST_TRAINING.items())


def variants(ctx: Context) -> list[Variant]:
    """Each option alone on top of plain fp32, the shipped defaults, the preset, and the preset at a large batch."""
    fast = preset_overrides()
    plain = (NCHW, FOR_LOOP_ADAM)
    chosen = [
        Variant(PLAIN, plain), Variant("+ bf16 autocast", (*plain, BF16)), Variant("+ channels-last", (FOR_LOOP_ADAM,)),
        Variant("+ fused Adam", (NCHW,)), Variant("+ foreach Adam", plain, foreach=True),
        Variant("genkit defaults (fp32, channels-last, fused Adam)"),
        Variant("--fast (" + ", ".join(o.split("=")[0].split(".")[1] for o in fast) + ")", fast, role="preset"),
        Variant(f"--fast, batch {ctx.sizes.large_batch}, lr x sqrt(batch/32)", fast, batch=ctx.sizes.large_batch,
                role="large"),
    ]
    if ctx.sizes.compile:
        chosen += [Variant("+ torch.compile", plain, compile=True),
                   Variant("--fast + torch.compile", fast, compile=True)]
    return chosen


def run(ctx: Context) -> Result:
    n = window_images(ctx)
    images = ctx.train_images(n)
    windows = {"hand-written fp32": handwritten_window(images)}
    chosen = variants(ctx)
    for v in chosen:
        trainer = build_trainer(ctx, v.settings(), images=n, compile_loss=v.compile,
                                callbacks=[foreach_adam()] if v.foreach else [])
        windows[v.label] = trainer_window(trainer)
    rates, summary = ctx.compare(windows, baseline="hand-written fp32", budget_scale=2)
    rows = [{"configuration": name, "images/s": s["images_per_s"], "vs hand-written fp32": s["vs_baseline"],
             "spread": s["spread"]} for name, s in summary.items()]
    preset, large = (next(v for v in chosen if v.role == role) for role in ("preset", "large"))
    targets = [Target("--fast / hand-written fp32 images/s, batch 32", summary[preset.label]["vs_baseline"],
                      SPEED_GOAL, unit="x")]
    notes = [f"{n} images per window, {ctx.threads} threads, {summary[PLAIN]['rounds']} interleaved rounds; "
             "'+' rows change one setting of the plain row"]
    if not ctx.sizes.compile:
        notes.append("torch.compile not measured in this mode (about a minute of compilation per variant)")
    details = {"rates": rates}
    if ctx.sizes.epoch_loss:
        # The plain fp32 run is the reference; the same run with another seed shows how far apart two
        # equally good runs land, which is the scale the 2 % criterion has to be read against.
        defaults = next(v for v in chosen if not v.overrides and not v.compile)
        reseeded = Variant(f"{PLAIN}, seed 1", (*chosen[0].overrides, "training.seed=1"))
        losses = epoch_losses(ctx, [chosen[0], reseeded, defaults, preset, large])
        details["one_epoch"] = losses
        reference = losses[chosen[0].label]["test_loss_fp32"]
        rows.append({"configuration": reseeded.label})
        for row in rows:
            if row["configuration"] in losses:
                measured = losses[row["configuration"]]
                row["1-epoch test loss"] = measured["test_loss_fp32"]
                row["loss vs fp32"] = measured["test_loss_fp32"] / reference - 1
        delta = losses[preset.label]["test_loss_fp32"] / reference - 1
        targets.append(Target("--fast one-epoch test loss, relative to fp32", abs(delta), LOSS_TOLERANCE,
                              "at_most"))
        notes.append("one-epoch losses: a whole epoch of the training split, seed 0, then the whole test split "
                     "evaluated in fp32 with fixed noise")
    else:
        notes.append("one-epoch loss comparison only in full mode (minutes)")
    return Result(rows=rows, targets=targets, notes=notes, details=details)


def epoch_losses(ctx: Context, chosen: list[Variant]) -> dict[str, dict[str, float]]:
    """Train one epoch per variant on the whole training split; test loss in its own precision and in fp32."""
    out = {}
    for v in chosen:
        ctx.log(f"  one epoch: {v.label}")
        trainer = build_trainer(ctx, v.settings(), images=ctx.sizes.loss_limit, test_images=0)
        record = trainer.train_epoch()
        trainer.config = trainer.config.replace("training", precision="fp32")  # score every variant the same way
        fp32 = trainer.evaluate(trainer.test_split)
        out[v.label] = {"test_loss": record["test"]["loss"], "test_loss_fp32": fp32["loss"],
                        "train_loss": record["train"]["loss"], "seconds": record["seconds"],
                        "images_per_second": record["images_per_second"]}
    return out


def foreach_adam():
    """A callback that runs the trainer's Adam with its multi-tensor (foreach) kernel, every epoch.

    Measured here, not offered as a setting: genkit's choice is the fused kernel. The optimizer keeps
    its settings; only the kernel its step calls changes.
    """
    from genkit.training import Callback

    class ForeachAdam(Callback):
        writes = False

        def on_epoch_start(self, trainer, epoch, steps, start_step):
            for group in trainer.optimizer.param_groups:
                group["foreach"] = True

    return ForeachAdam()
