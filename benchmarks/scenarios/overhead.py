"""Framework overhead: genkit's real training loop against the hand-written one, fp32, batch 32.

Three contenders run interleaved on the same in-memory images: the hand-written loop, genkit's
``Trainer`` with the stock ``vae`` recipe, and the same ``Trainer`` with the model's stride-2 layers
switched to PyTorch's symmetric padding (the hand-written model's layers). The last isolates the
loop itself; the gap between it and the stock recipe is the price of Keras' pixel alignment.
"""

from __future__ import annotations

from ..context import Context
from ..native_padding import use_native_padding_
from ..result import Result, Target
from ..workloads import build_trainer, handwritten_window, trainer_window, window_images

NAME = "overhead"
TITLE = "Framework overhead (fp32, batch 32)"
GOAL = 0.97


def run(ctx: Context) -> Result:
    n = window_images(ctx)
    images = ctx.train_images(n)
    stock = build_trainer(ctx, images=n)
    aligned = build_trainer(ctx, images=n)
    use_native_padding_(aligned.model)
    windows = {
        "hand-written loop": handwritten_window(images),
        "genkit Trainer, vae recipe": trainer_window(stock),
        "genkit Trainer, same layers as hand-written": trainer_window(aligned),
    }
    rates, summary = ctx.compare(windows, baseline="hand-written loop")
    rows = [{"loop": name, "images/s": s["images_per_s"], "vs hand-written": s["vs_baseline"],
             "rounds": s["rounds"], "spread (IQR/median)": s["spread"]} for name, s in summary.items()]
    stock_ratio = summary["genkit Trainer, vae recipe"]["vs_baseline"]
    loop_ratio = summary["genkit Trainer, same layers as hand-written"]["vs_baseline"]
    return Result(
        rows=rows,
        targets=[Target("genkit fp32 / hand-written images/s (vae recipe)", stock_ratio, GOAL, unit="x"),
                 Target("genkit loop alone / hand-written images/s (same layers)", loop_ratio, GOAL, unit="x")],
        notes=[f"{n} images per window, {ctx.threads} threads; ratios are medians of per-round ratios",
               "'same layers' runs the vae model with symmetric padding instead of Keras' 'same' alignment "
               "(no pad before stride-2 convolutions, no crop after stride-2 transposed ones)"],
        details={"rates": rates},
    )
