"""Inference: the exported encoder and decoder on onnxruntime's CPU provider against torch eager.

The export comes from genkit's own exporter and runs through ``genkit.runtime.ExportedModel``, so
the numbers are what ``genkit generate`` gets. Each onnxruntime session setting (intra-op threads,
graph optimisation level) is one contender; torch runs the same trained modules under
``torch.inference_mode`` with the same thread count. Batch 1 reports latency (median and p99), batch
256 throughput, each interleaved with its torch counterpart.
"""

from __future__ import annotations

import numpy as np

from ..context import Context
from ..result import Result, Target
from ..timing import latencies

NAME = "inference"
TITLE = "Inference: onnxruntime (CPU) against torch eager"
GOAL = 1.5
# (label, intra-op threads, graph optimisation): 0 threads lets onnxruntime pick (one per core).
SESSIONS = (("ort default", 0, "all"), ("ort 2 threads, all", 2, "all"), ("ort 1 thread, all", 1, "all"),
            ("ort 2 threads, extended", 2, "extended"), ("ort 2 threads, basic", 2, "basic"))
QUICK_SESSIONS = SESSIONS[:2]


def _torch_side(ctx: Context):
    import torch

    from genkit.checkpoint import load_model

    torch.set_num_threads(ctx.threads)
    model = load_model(ctx.trained_run()).float().eval()

    def encode(x: np.ndarray):
        with torch.inference_mode():
            return [t.numpy() for t in model.encoder(torch.from_numpy(x))]

    def decode(z: np.ndarray):
        with torch.inference_mode():
            return model.decoder(torch.from_numpy(z)).numpy()

    return encode, decode


def run(ctx: Context) -> Result:
    from genkit.runtime import ExportedModel

    export = ctx.export_dir()
    s = ctx.sizes
    sessions = SESSIONS if s.mode == "full" else QUICK_SESSIONS
    models = {label: ExportedModel(export, "cpu", threads, optimization=opt) for label, threads, opt in sessions}
    torch_encode, torch_decode = _torch_side(ctx)
    rng = np.random.default_rng(0)
    shape, latent = next(iter(models.values())).input_shape, next(iter(models.values())).latent_size
    big = s.large_inference_batch
    images = {n: rng.random((n, *shape), dtype=np.float32) for n in (1, big)}
    points = {n: rng.standard_normal((n, latent)).astype(np.float32) for n in (1, big)}
    graphs = {"encoder": (lambda m, n: m.encode(images[n]), lambda n: torch_encode(images[n])),
              "decoder": (lambda m, n: m.decode(points[n]), lambda n: torch_decode(points[n]))}
    rows, targets, details = [], [], {}
    for graph, (ort_call, torch_call) in graphs.items():
        graph_rows, target, details[graph] = _compare(ctx, graph, models, ort_call, torch_call, big, s)
        rows += graph_rows
        targets.append(target)
    default = [r for r in rows if r["runner"] == "ort default"]
    return Result(rows=rows, targets=targets, details={"rates": details, "default_sessions": default},
                  notes=[f"torch: {ctx.threads} threads, inference_mode; onnxruntime: ExportedModel(provider='cpu')",
                         f"batch {big}: medians of {s.rounds} interleaved rounds; batch 1: "
                         f"{s.inference_repeats} calls each"])


def _compare(ctx, graph, models, ort_call, torch_call, big, s):
    """Throughput at batch ``big`` (interleaved) and batch-1 latency of one graph, torch and each session."""
    windows = {"torch eager": _window(lambda: torch_call(big), big, s.window_steps)}
    for label, model in models.items():
        windows[label] = _window(lambda m=model: ort_call(m, big), big, s.window_steps)
    rates, summary = ctx.compare(windows, baseline="torch eager")
    single = {"torch eager": latencies(lambda: torch_call(1), s.inference_repeats)}
    for label, model in models.items():
        single[label] = latencies(lambda m=model: ort_call(m, 1), s.inference_repeats)
    rows = [{"graph": graph, "runner": label, f"batch {big} images/s": row["images_per_s"],
             "vs torch": row["vs_baseline"], "batch 1 median ms": single[label]["median_ms"],
             "batch 1 p99 ms": single[label]["p99_ms"]} for label, row in summary.items()]
    best = max((label for label in summary if label != "torch eager"), key=lambda label: summary[label]["vs_baseline"])
    target = Target(f"{graph}: onnxruntime / torch images/s at batch {big} ({best})",
                    summary[best]["vs_baseline"], GOAL, unit="x")
    return rows, target, rates


def _window(call, batch: int, repeats: int):
    def window() -> int:
        for _ in range(max(1, repeats)):
            call()
        return batch * max(1, repeats)

    return window
