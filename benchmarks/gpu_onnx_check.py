"""Check and time an ONNX export on onnxruntime's CUDA provider against torch on CUDA; print JSON.

    python benchmarks/gpu_onnx_check.py                      # an untrained vae-faces model, made here
    python benchmarks/gpu_onnx_check.py --run runs/vae       # a trained run (exported into a temp folder)
    python benchmarks/gpu_onnx_check.py --provider cpu       # the same on the CPU (no GPU needed)

Needs onnxruntime-gpu (instead of onnxruntime) and a CUDA build of torch. It reports: which providers
the session really got (a CUDA request that lands on the CPU is a failure here, as in genkit), the
largest absolute difference between onnxruntime and torch on the same device for encode, decode and
reconstruct at batch sizes 1, 2, 7 and 256, and throughput (images per second, median of --repeats)
for onnxruntime with and without IO binding, for each graph-optimisation level, and for torch.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCHES = (1, 2, 7, 256)
TIMED_BATCHES = (1, 64, 256, 1024)


def make_run(recipe: str, folder: Path) -> Path:
    """A run folder holding an untrained model of ``recipe`` (parity needs weights, not training)."""
    import torch

    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.contract.model import build_model
    from genkit.run import checkpoint

    config = build_config(get_registry(), recipe, None, ['data.name="npz:/nonexistent.npz"'])
    torch.manual_seed(0)
    model = build_model(config).eval()
    with torch.no_grad():  # batch-norm statistics away from their initial values, as after training
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    run = folder / recipe
    run.mkdir()
    checkpoint.write_config(run, config)
    checkpoint.save_weights(run, model, epoch=0)
    return run


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: allocations, cuDNN algorithm search
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="A trained run folder (default: an untrained model of --recipe).")
    parser.add_argument("--recipe", default="vae-faces")
    parser.add_argument("--provider", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--exporter", default="auto", choices=["auto", "dynamo", "torchscript"])
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import torch

    from genkit.onnx.export_run import export_run
    from genkit.run.checkpoint import load_model
    from genkit.runtime import ExportedModel

    device = "cuda" if args.provider == "cuda" else "cpu"
    # parity is measured without TF32, which torch would otherwise use for convolutions on Ampere and later
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    report: dict = {"torch": torch.__version__, "onnxruntime": ort.__version__,
                    "available_providers": ort.get_available_providers(),
                    "torch_cuda": torch.cuda.is_available(), "provider": args.provider}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = args.run or make_run(args.recipe, scratch)
        started = time.perf_counter()
        exported_report = export_run(run, scratch / "export", exporter=args.exporter)
        report["export"] = {"seconds": round(time.perf_counter() - started, 2),
                            "exporters": {g: r.exporter for g, r in exported_report.graphs.items()},
                            "cpu_max_abs_diff": {g: r.max_abs_diff for g, r in exported_report.graphs.items()},
                            "verified_on": exported_report.data}
        try:
            exported = ExportedModel(scratch / "export", provider=args.provider)
        except Exception as exc:  # report a provider that does not start instead of a traceback
            report["error"] = f"{type(exc).__name__}: {exc}"
            return report
        report["session_providers"] = exported.providers
        model = load_model(run, device).float()
        report["parity"] = parity(exported, model, device)
        report["throughput"] = throughput(run, scratch / "export", model, device, args)
    return report


def parity(exported, model, device: str) -> dict:
    import torch

    rng = np.random.default_rng(0)
    worst = {"encode": 0.0, "decode": 0.0, "reconstruct": 0.0}
    for n in BATCHES:
        x = rng.random((n, *exported.input_shape), dtype=np.float32)
        z = exported.sample_prior(n, seed=n)
        with torch.no_grad():
            tx = torch.from_numpy(x).to(device)
            want_params = {k: v.cpu().numpy() for k, v in model.encode(tx).items()}
            want_images = model.decoder(torch.from_numpy(z).to(device)).cpu().numpy()
            want_recon = model.reconstruct(tx).cpu().numpy()
        got = exported.encode(x)
        worst["encode"] = max(worst["encode"], max(float(np.abs(got[k] - v).max()) for k, v in want_params.items()))
        worst["decode"] = max(worst["decode"], float(np.abs(exported.decode(z) - want_images).max()))
        worst["reconstruct"] = max(worst["reconstruct"], float(np.abs(exported.reconstruct(x) - want_recon).max()))
    return {"max_abs_diff": worst, "within_1e-5": all(v <= 1e-5 for v in worst.values()),
            "within_1e-4": all(v <= 1e-4 for v in worst.values()), "batches": list(BATCHES)}


def throughput(run: Path, export: Path, model, device: str, args) -> dict:
    from genkit.runtime import ExportedModel

    results: dict = {}
    for level in ("all", "basic", "disable"):
        for binding in ("never", "always"):
            exported = ExportedModel(export, provider=args.provider, batch_size=max(TIMED_BATCHES),
                                     optimization=level, io_binding=binding)
            results[f"onnxruntime optimization={level} io_binding={binding}"] = {
                n: rates(exported.decode, exported.reconstruct, n, exported.input_shape, exported.latent_shape,
                         args.repeats) for n in TIMED_BATCHES}
    results["torch"] = {n: rates(functools.partial(torch_decode, model, device),
                                 functools.partial(torch_reconstruct, model, device),
                                 n, model.spec.input_shape, model.spec.latent_shape, args.repeats)
                        for n in TIMED_BATCHES}
    return results


def rates(decode, reconstruct, n: int, input_shape, latent_shape: tuple[int, ...], repeats: int) -> dict:
    """Images per second of ``decode`` and ``reconstruct`` on host arrays of batch ``n``."""
    x = np.random.default_rng(n).random((n, *input_shape), dtype=np.float32)
    z = np.random.default_rng(n).standard_normal((n, *latent_shape), dtype=np.float32)
    return {"generate_img_s": round(n / timed(functools.partial(decode, z), repeats), 1),
            "reconstruct_img_s": round(n / timed(functools.partial(reconstruct, x), repeats), 1)}


def torch_decode(model, device: str, z: np.ndarray) -> np.ndarray:
    """From and to host arrays, as the runtime is timed."""
    import torch

    with torch.no_grad():
        return model.decoder(torch.from_numpy(z).to(device)).cpu().numpy()


def torch_reconstruct(model, device: str, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model.reconstruct(torch.from_numpy(x).to(device)).cpu().numpy()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(json.dumps(main(), indent=2))
