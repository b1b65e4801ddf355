"""Inference: the exported encoder and decoder on onnxruntime's CPU provider against torch eager, per precision.

The run is exported through genkit's own exporter with every precision (``--precision all``) and run
through ``genkit.runtime.ExportedModel``, so the numbers are what ``genkit generate`` gets. torch runs
the same trained modules under ``torch.inference_mode`` with the same thread count, NCHW and
channels-last; targets compare with the faster of the two.

Fairness (``benchmarks/fair_timing.py``): every onnxruntime session compared with torch has spinning
off, the runtime's default; spinning on is measured on its own, each window followed by a pause in
which the threads park, together with what it costs the next torch call. Contenders at batch 256 are
interleaved; batch 1 reports latency (median and p99). The quality columns are the export's own
checks against the torch model on real test images (``genkit.onnx.variants``).
"""

from __future__ import annotations

import json

import numpy as np

from ..context import Context
from ..fair_timing import after_spinning, settled_latencies, settled_window
from ..result import Result, Target
from ..timing import latencies, summarize

NAME = "inference"
TITLE = "Inference: onnxruntime (CPU) against torch eager, fp32 / fp16 / int8"
GOAL = 1.5  # fp32 onnxruntime over the faster torch layout, and int8 over fp32 onnxruntime
QUALITY_GOAL = 2.0  # % worsening of reconstruction MSE and Fréchet distance, int8 against fp32
TORCH = "torch eager"
TORCH_CL = "torch eager, channels-last"
FP32 = "ort fp32"
ONE_SESSION = "ort fp32, one session (no batch shards)"
VARIANTS = {FP32: "fp32", "ort fp16 (float32 kernels on the CPU)": "fp16", "ort int8": "int8"}


def variant_export(ctx: Context):
    """The trained run exported with every precision; the report says which variants passed."""
    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.onnx.export_run import export_run
    from genkit.onnx.export_variants import VariantOptions

    # the default classifier (cached per dataset) in full mode; a small one elsewhere, trained in seconds
    classifier = ClassifierSettings() if ctx.sizes.mode == "full" else ClassifierSettings(epochs=1, limit=2048)
    options = VariantOptions.parse("all", classifier=classifier)
    return export_run(ctx.trained_run(), ctx.workdir / "exports" / "vae-variants", variants=options)


def torch_runners(ctx: Context) -> dict:
    """``label -> (graph, array) -> outputs`` for the trained modules in NCHW and channels-last."""
    import torch

    from genkit.run.checkpoint import load_model

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


def ort_runner(model):
    return lambda graph, array: model.encode(array) if graph == "encoder" else model.decode(array)


def run(ctx: Context) -> Result:
    from genkit.runtime import ExportedModel

    report = variant_export(ctx)
    export, written = report.out, report.variants.written
    runners = torch_runners(ctx)
    for label, precision in VARIANTS.items():
        if all(precision in written.get(g, ["fp32"]) for g in ("encoder", "decoder")):
            runners[label] = ort_runner(ExportedModel(export, "cpu", ctx.threads, precision=precision))
    runners[ONE_SESSION] = ort_runner(ExportedModel(export, "cpu", ctx.threads, parallel="ops"))
    model = ExportedModel(export, "cpu", ctx.threads)
    shape, latent = model.input_shape, model.latent_shape
    rng = np.random.default_rng(0)
    big = ctx.sizes.large_inference_batch
    inputs = {"encoder": {n: rng.random((n, *shape), dtype=np.float32) for n in (1, big)},
              "decoder": {n: rng.standard_normal((n, *latent)).astype(np.float32) for n in (1, big)}}
    checks = _checks(export)
    rows, targets, details = [], [], {}
    for graph in ("encoder", "decoder"):
        graph_rows, graph_targets, details[graph] = compare_graph(ctx, graph, runners, inputs[graph], big, checks)
        spin_rows, details[f"{graph} spinning"] = compare_spinning(ctx, graph, export, inputs[graph], big, runners)
        rows += graph_rows + spin_rows
        targets += graph_targets
    return Result(rows=rows, targets=targets, details={"rates": details, "rejected": report.variants.rejected},
                  notes=[f"torch: {ctx.threads} threads, inference_mode; onnxruntime: genkit.runtime.ExportedModel"
                         f"(provider='cpu', threads={ctx.threads}, precision=...), spinning off (the runtime default)",
                         f"batch {big}: medians of interleaved rounds; batch 1: {ctx.sizes.inference_repeats} "
                         f"calls each",
                         "'ort fp32' shards batches of 64 or more over single-threaded sessions "
                         "(genkit.runtime.batch_parallel); 'one session' is one session with intra-op threads",
                         "quality: change against fp32 of the reconstruction MSE and of the Fréchet distance of "
                         "generated images, from the export's checks on real test images",
                         *[f"not written: {line}" for line in report.variants.rejected]])


def compare_graph(ctx: Context, graph: str, runners: dict, inputs: dict, big: int, checks: dict):
    """Throughput at batch ``big`` (interleaved) and batch-1 latency of one graph for every runner."""
    s = ctx.sizes
    windows = {label: settled_window(lambda call=call: call(graph, inputs[big]), big, s.inference_calls, False)
               for label, call in runners.items()}
    rates, summary = ctx.compare(windows, baseline=TORCH)
    single = {label: latencies(lambda call=call: call(graph, inputs[1]), s.inference_repeats)
              for label, call in runners.items()}
    best_torch = max((TORCH, TORCH_CL), key=lambda label: summary[label]["images_per_s"])
    versus_torch = summarize(rates, baseline=best_torch)
    versus_fp32 = summarize(rates, baseline=FP32)
    rows = []
    for label, row in summary.items():
        check = checks.get(graph, {}).get(VARIANTS.get(label, ""), {})
        rows.append({"graph": graph, "runner": label, f"batch {big} images/s": row["images_per_s"],
                     "vs faster torch": versus_torch[label]["vs_baseline"],
                     "vs ort fp32": versus_fp32[label]["vs_baseline"] if label not in (TORCH, TORCH_CL) else None,
                     "batch 1 median ms": single[label]["median_ms"], "batch 1 p99 ms": single[label]["p99_ms"],
                     "MSE change %": _pct(check, "mse"), "Fréchet change %": _pct(check, "frechet"),
                     "file KB": check["bytes"] / 1024 if check.get("bytes") else None})
    targets = [Target(f"{graph}: fp32 onnxruntime / {best_torch} images/s at batch {big}, spinning off",
                      versus_torch[FP32]["vs_baseline"], GOAL, unit="x")]
    int8 = next(label for label, p in VARIANTS.items() if p == "int8")
    check = checks.get(graph, {}).get("int8", {})
    targets.append(Target(f"{graph}: int8 / fp32 onnxruntime images/s at batch {big}",
                          versus_fp32[int8]["vs_baseline"] if int8 in versus_fp32 else None, GOAL, unit="x"))
    targets.append(Target(f"{graph}: int8 reconstruction MSE change vs fp32", _pct(check, "mse"), QUALITY_GOAL,
                          "at_most", unit=" %"))
    if graph == "decoder":
        targets.append(Target("decoder: int8 Fréchet distance change vs fp32", _pct(check, "frechet"), QUALITY_GOAL,
                              "at_most", unit=" %"))
    return rows, targets, rates


def compare_spinning(ctx: Context, graph: str, export, inputs: dict, big: int, runners: dict):
    """One fp32 session with intra-op threads, spinning on against off; and what spinning costs torch."""
    from genkit.runtime import ExportedModel

    s = ctx.sizes
    sessions = {spin: ort_runner(ExportedModel(export, "cpu", ctx.threads, parallel="ops", spinning=spin))
                for spin in (False, True)}
    label = {False: "ort fp32, one session, spinning off", True: "ort fp32, one session, spinning on"}
    windows = {label[spin]: settled_window(lambda call=call: call(graph, inputs[big]), big, s.inference_calls)
               for spin, call in sessions.items()}
    rates, summary = ctx.compare(windows, baseline=label[False])
    single = {spin: settled_latencies(lambda call=call: call(graph, inputs[1]), s.inference_repeats)
              for spin, call in sessions.items()}
    torch_cl = runners[TORCH_CL]
    follow = {spin: after_spinning(lambda call=call: call(graph, inputs[big]), lambda: torch_cl(graph, inputs[big]),
                                   big, s.rounds) for spin, call in sessions.items()}
    rows = [{"graph": graph, "runner": label[spin], f"batch {big} images/s": summary[label[spin]]["images_per_s"],
             "vs spinning off": summary[label[spin]]["vs_baseline"], "batch 1 median ms": single[spin]["median_ms"],
             "batch 1 p99 ms": single[spin]["p99_ms"], "torch channels-last right after, images/s": follow[spin]}
            for spin in (False, True)]
    return rows, rates


def _checks(export) -> dict:
    """graph -> precision -> the export's check of that variant (from the fp32 graph's metadata)."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(export / "encoder.onnx")).metadata_props}
    return json.loads(props.get("genkit.precisions", "{}")).get("graphs", {})


def _pct(check: dict, key: str) -> float | None:
    value = (check.get(key) or {}).get("change")
    return None if value is None else value * 100
