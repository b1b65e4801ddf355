"""GPU: training images/s in fp32 and bf16 at batch 32 and 512, and onnxruntime CUDA against torch CUDA.

Skipped, with a note saying why, where torch sees no CUDA device. Self-contained: without
Fashion-MNIST on the machine it trains on synthetic images of the same shape (speed does not depend
on pixel values). ``python -m benchmarks gpu`` takes a few minutes on an H100.
"""

from __future__ import annotations

import numpy as np

from ..context import Context
from ..result import Result
from ..timing import latencies
from ..workloads import build_trainer, trainer_window

NAME = "gpu"
TITLE = "GPU training and inference"
BATCHES = (32, 512)
PRECISIONS = ("fp32", "bf16")


def run(ctx: Context) -> Result:
    import torch

    if not torch.cuda.is_available():
        return Result.skipped("skipped: torch sees no CUDA device (CPU build of torch or no GPU); "
                              "run `python -m benchmarks gpu` on a machine with one")
    s = ctx.sizes
    windows = {}
    for batch in BATCHES:
        for precision in PRECISIONS:
            overrides = ["training.device=\"cuda\"", f"training.precision=\"{precision}\"",
                         f"training.batch_size={batch}", "training.channels_last=true"]
            windows[f"{precision}, batch {batch}"] = trainer_window(
                build_trainer(ctx, overrides, images=s.gpu_steps * batch))
    rates, summary = ctx.compare(windows, baseline=f"fp32, batch {BATCHES[0]}")
    rows = [{"workload": f"train vae, {name}", "images/s": r["images_per_s"], "vs fp32 batch 32": r["vs_baseline"]}
            for name, r in summary.items()]
    notes = [f"training: genkit Trainer on cuda, channels-last, {s.gpu_steps} steps per window, data on the GPU"]
    rows += inference_rows(ctx, notes)
    return Result(rows=rows, notes=notes, details={"device": torch.cuda.get_device_name(0), "rates": rates})


def inference_rows(ctx: Context, notes: list[str]) -> list[dict]:
    """Encoder and decoder at batch 1 and 256: torch CUDA eager against onnxruntime's CUDA provider."""
    import torch

    from genkit.run.checkpoint import load_model
    from genkit.runtime import ExportedModel, cuda_available

    model = load_model(ctx.trained_run(), device="cuda").float().eval()
    export = ctx.export_dir()
    runners = {"torch cuda": None}
    if cuda_available():
        runners["onnxruntime cuda"] = ExportedModel(export, "cuda")
    else:
        notes.append("onnxruntime has no CUDA provider here (install onnxruntime-gpu): only torch was timed")
    rng = np.random.default_rng(0)
    rows = []
    for n in (1, 256):
        x = rng.random((n, *model.spec.input_shape), dtype=np.float32)
        z = rng.standard_normal((n, *model.spec.latent_shape)).astype(np.float32)

        def torch_call(x=x, z=z):
            with torch.inference_mode():
                model.encoder(torch.from_numpy(x).cuda())[0].cpu()
                model.decoder(torch.from_numpy(z).cuda()).cpu()

        calls = {"torch cuda": torch_call}
        if "onnxruntime cuda" in runners:
            ort = runners["onnxruntime cuda"]
            calls["onnxruntime cuda"] = lambda x=x, z=z, ort=ort: (ort.encode(x), ort.decode(z))
        if n == 1:
            for name, call in calls.items():
                timing = latencies(call, ctx.sizes.inference_repeats)
                rows.append({"workload": f"encode + decode, batch 1, {name}", "median ms": timing["median_ms"],
                             "p99 ms": timing["p99_ms"]})
        else:
            windows = {name: _window(call, n) for name, call in calls.items()}
            _, summary = ctx.compare(windows, baseline="torch cuda")
            rows += [{"workload": f"encode + decode, batch {n}, {name}", "images/s": r["images_per_s"],
                      "vs torch cuda": r["vs_baseline"]} for name, r in summary.items()]
    notes.append("inference times include the host-to-device copy of the inputs and the copy of the outputs back")
    return rows


def _window(call, n: int, repeats: int = 10):
    def window() -> int:
        for _ in range(repeats):
            call()
        return n * repeats

    return window
