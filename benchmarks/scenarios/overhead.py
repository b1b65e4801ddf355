"""Framework overhead: genkit's real training loop against the hand-written one, fp32, batch 32.

Four contenders run interleaved on the same in-memory images: the hand-written loop; genkit's
``Trainer`` with the ``vae`` recipe and genkit's defaults; the same with the hand-written loop's
settings (NCHW, for-loop Adam); and that again with the model's stride-2 layers switched to PyTorch's
symmetric padding, i.e. the hand-written model's layers. The last isolates the loop itself; the gap
between it and the third is the price of Keras' pixel alignment.
"""

from __future__ import annotations

from ..context import Context
from ..native_padding import use_native_padding_
from ..result import Result, Target
from ..workloads import build_trainer, handwritten_window, trainer_window, window_images

NAME = "overhead"
TITLE = "Framework overhead (fp32, batch 32)"
GOAL = 0.97
HAND = "hand-written loop"
DEFAULTS = "genkit Trainer, vae recipe, genkit defaults"
PLAIN = ("training.channels_last=false", "training.fused_optimizer=false")
PLAIN_LABEL = "vae recipe, NCHW + for-loop Adam"


def run(ctx: Context) -> Result:
    n = window_images(ctx)
    images = ctx.train_images(n)
    aligned = build_trainer(ctx, PLAIN, images=n)
    use_native_padding_(aligned.model)
    windows = {
        HAND: handwritten_window(images),
        DEFAULTS: trainer_window(build_trainer(ctx, images=n)),
        f"genkit Trainer, {PLAIN_LABEL}": trainer_window(build_trainer(ctx, PLAIN, images=n)),
        f"genkit Trainer, {PLAIN_LABEL}, same layers as hand-written": trainer_window(aligned),
    }
    rates, summary = ctx.compare(windows, baseline=HAND)
    rows = [{"loop": name, "images/s": s["images_per_s"], "vs hand-written": s["vs_baseline"],
             "rounds": s["rounds"], "spread (IQR/median)": s["spread"]} for name, s in summary.items()]
    ratios = [s["vs_baseline"] for s in summary.values()]
    return Result(
        rows=rows,
        targets=[Target("genkit fp32 (defaults) / hand-written images/s", ratios[1], GOAL, unit="x"),
                 Target("genkit loop alone / hand-written images/s (same settings, same layers)", ratios[3], GOAL,
                        unit="x")],
        notes=[f"{n} images per window, {ctx.threads} threads; ratios are medians of per-round ratios",
               "genkit's defaults: fp32, channels-last, fused Adam; the hand-written loop uses PyTorch's "
               "defaults (NCHW, for-loop Adam), as the plain rows do",
               "'same layers' runs the vae model with symmetric padding instead of Keras' 'same' alignment "
               "(no pad before stride-2 convolutions, no crop after stride-2 transposed ones): what is left "
               "between it and the hand-written loop is the training loop itself"],
        details={"rates": rates},
    )
