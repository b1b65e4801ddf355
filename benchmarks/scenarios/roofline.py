"""Roofline: training FLOPs per image, the FLOP rate each configuration reaches, and its share of peak.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one forward and backward pass
(convolutions and matrix products; Adam's element-wise update is memory traffic, not FLOPs). The peak
is ``torch.mm``'s best rate on this machine in the configuration's compute dtype, with the same
thread count, measured in the same run.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..context import Context
from ..handwritten import HandwrittenVAE, vae_loss
from ..peak import matmul_peak
from ..result import Result
from ..workloads import build_trainer, handwritten_window, trainer_window, window_images
from .fast_training import preset_overrides

NAME = "roofline"
TITLE = "Roofline: FLOPs per image and share of the measured matmul peak"


def training_flops_per_image(model_loss, batch: int = 32) -> float:
    """FLOPs of one forward + backward pass of ``model_loss(x)`` per image."""
    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model_loss(x).backward()
    return counter.get_total_flops() / batch


def run(ctx: Context) -> Result:
    torch.set_num_threads(ctx.threads)
    n = window_images(ctx)
    images = ctx.train_images(n)
    genkit_model = build_trainer(ctx, images=n).model
    hand = HandwrittenVAE()
    flops = {"genkit": training_flops_per_image(lambda x: genkit_model.compute_loss(x)["loss"]),
             "hand-written": training_flops_per_image(lambda x: vae_loss(x, *hand(x)))}
    fast = list(preset_overrides())
    configs = {  # label: (FLOP count, dtype of the compute, timing window)
        "hand-written fp32": ("hand-written", "fp32", handwritten_window(images)),
        "genkit fp32": ("genkit", "fp32", trainer_window(build_trainer(ctx, images=n))),
        "genkit --fast": ("genkit", "bf16", trainer_window(build_trainer(ctx, fast, images=n))),
        f"genkit --fast, batch {ctx.sizes.large_batch}": (
            "genkit", "bf16", trainer_window(build_trainer(ctx, [*fast, f"training.batch_size={ctx.sizes.large_batch}"],
                                                           images=max(n, ctx.sizes.large_batch)))),
    }
    rates, summary = ctx.compare({k: v[2] for k, v in configs.items()})
    sizes = ctx.sizes.peak_sizes
    peaks = {"fp32": matmul_peak(torch.float32, sizes=sizes), "bf16": matmul_peak(torch.bfloat16, sizes=sizes)}
    rows = []
    for label, (model, dtype, _) in configs.items():
        per_second = summary[label]["images_per_s"] * flops[model]
        rows.append({"configuration": label, "training MFLOP/image": flops[model] / 1e6,
                     "images/s": summary[label]["images_per_s"], "achieved GFLOP/s": per_second / 1e9,
                     "peak dtype": dtype, "matmul peak GFLOP/s": peaks[dtype]["flops_per_s"] / 1e9,
                     "share of peak": per_second / peaks[dtype]["flops_per_s"]})
    return Result(rows=rows, details={"peaks": peaks, "flops_per_image": flops, "rates": rates},
                  notes=[f"matmul peak: best torch.mm over sizes {sizes} with {ctx.threads} threads",
                         "FLOPs: forward + backward of convolutions and linear layers (FlopCounterMode)"])
