"""Inference: the exported encoder and decoder on onnxruntime's CPU provider against torch eager.

The export comes from genkit's own exporter and runs through ``genkit.runtime.ExportedModel``, so
the numbers are what ``genkit generate`` gets. Each onnxruntime session setting (intra-op threads,
graph optimisation level) is one contender; torch runs the same trained modules under
``torch.inference_mode`` with the same thread count, NCHW and channels-last, and the target compares
the best session with the better of the two. Batch 1 reports latency (median and p99), the large
batch throughput, interleaved.
"""

from __future__ import annotations

import numpy as np

from ..context import Context
from ..result import Result, Target
from ..timing import latencies, summarize

NAME = "inference"
TITLE = "Inference: onnxruntime (CPU) against torch eager"
GOAL = 1.5
TORCH = "torch eager"
TORCH_CL = "torch eager, channels-last"
# (label, intra-op threads, graph optimisation): 0 threads lets onnxruntime pick (one per core).
SESSIONS = (("ort default", 0, "all"), ("ort 2 threads, all", 2, "all"), ("ort 1 thread, all", 1, "all"),
            ("ort 2 threads, extended", 2, "extended"), ("ort 2 threads, basic", 2, "basic"),
            ("ort 2 threads, disable", 2, "disable"))
QUICK_SESSIONS = SESSIONS[:2]


def torch_runners(ctx: Context) -> dict:
    """``label -> (graph, array) -> outputs`` for the trained modules in NCHW and channels-last."""
    import torch

    from genkit.checkpoint import load_model

    torch.set_num_threads(ctx.threads)
    plain = load_model(ctx.trained_run()).float().eval()
    cl = load_model(ctx.trained_run()).float().eval().to(memory_format=torch.channels_last)

    def runner(model, memory_format):
        def call(graph: str, array: np.ndarray):
            with torch.inference_mode():
                if graph == "encoder":
                    x = torch.from_numpy(array).contiguous(memory_format=memory_format)
                    return [t.numpy() for t in model.encoder(x)]
                return model.decoder(torch.from_numpy(array)).contiguous().numpy()

        return call

    return {TORCH: runner(plain, torch.contiguous_format), TORCH_CL: runner(cl, torch.channels_last)}


def run(ctx: Context) -> Result:
    from genkit.runtime import ExportedModel

    export = ctx.export_dir()
    s = ctx.sizes
    sessions = SESSIONS if s.mode == "full" else QUICK_SESSIONS
    runners = torch_runners(ctx)
    for label, threads, opt in sessions:
        model = ExportedModel(export, "cpu", threads, optimization=opt)
        runners[label] = lambda graph, array, m=model: m.encode(array) if graph == "encoder" else m.decode(array)
    shape, latent = model.input_shape, model.latent_size
    rng = np.random.default_rng(0)
    big = s.large_inference_batch
    inputs = {"encoder": {n: rng.random((n, *shape), dtype=np.float32) for n in (1, big)},
              "decoder": {n: rng.standard_normal((n, latent)).astype(np.float32) for n in (1, big)}}
    rows, targets, details = [], [], {}
    for graph in ("encoder", "decoder"):
        graph_rows, target, details[graph] = compare_graph(ctx, graph, runners, inputs[graph], big)
        rows += graph_rows
        targets.append(target)
    return Result(rows=rows, targets=targets, details={"rates": details},
                  notes=[f"torch: {ctx.threads} threads, inference_mode; onnxruntime: "
                         f"genkit.runtime.ExportedModel(provider='cpu', threads, optimization)",
                         f"batch {big}: medians of interleaved rounds; batch 1: {s.inference_repeats} calls each",
                         "the target divides the best onnxruntime session by the faster torch layout"])


def compare_graph(ctx: Context, graph: str, runners: dict, inputs: dict, big: int):
    """Throughput at batch ``big`` (interleaved) and batch-1 latency of one graph for every runner."""
    s = ctx.sizes
    windows = {label: _window(lambda call=call: call(graph, inputs[big]), big, s.inference_calls)
               for label, call in runners.items()}
    rates, summary = ctx.compare(windows, baseline=TORCH)
    single = {label: latencies(lambda call=call: call(graph, inputs[1]), s.inference_repeats)
              for label, call in runners.items()}
    rows = [{"graph": graph, "runner": label, f"batch {big} images/s": row["images_per_s"],
             "vs torch eager": row["vs_baseline"], "batch 1 median ms": single[label]["median_ms"],
             "batch 1 p99 ms": single[label]["p99_ms"]} for label, row in summary.items()]
    best_torch = max((TORCH, TORCH_CL), key=lambda label: summary[label]["images_per_s"])
    versus = summarize(rates, baseline=best_torch)
    best = max((label for label in runners if label not in (TORCH, TORCH_CL)),
               key=lambda label: versus[label]["vs_baseline"])
    target = Target(f"{graph}: onnxruntime / torch images/s at batch {big} ({best} / {best_torch})",
                    versus[best]["vs_baseline"], GOAL, unit="x")
    return rows, target, rates


def _window(call, batch: int, repeats: int):
    def window() -> int:
        for _ in range(max(1, repeats)):
            call()
        return batch * max(1, repeats)

    return window
