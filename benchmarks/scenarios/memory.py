"""Memory: peak resident memory of real ``genkit train`` processes.

One epoch of Fashion-MNIST (held in memory as one float32 tensor: 60000 x 784 x 4 bytes = 188 MB),
and ``vae-faces`` on image folders of increasing size for the same number of steps: files are read
lazily by DataLoader workers, so the peak must not grow with the folder.
"""

from __future__ import annotations

import os

from ..context import Context
from ..faces import faces_folder
from ..procmem import measure
from ..result import Result, Target
from .startup import genkit_command

NAME = "memory"
TITLE = "Peak memory of training processes"
FLAT_GOAL = 1.10  # the largest folder's peak over the smallest's


def run(ctx: Context) -> Result:
    s = ctx.sizes
    genkit = genkit_command()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    common = ["--epochs", "1", "--quiet", "--set", "training.samples=0", "--set", f"training.threads={ctx.threads}"]
    rows = []
    limit = ["--limit", str(s.memory_limit)] if s.memory_limit else []
    run_dir = ctx.workdir / "memory" / "fashion"
    ctx.log("  memory: one epoch of vae")
    measured = measure([*genkit, "train", "vae", "--data", ctx.data_spec, "-o", str(run_dir), *common, *limit,
                        "--set", "data.workers=0"], env)
    rows.append({"workload": f"vae, one epoch of {ctx.data_spec if ctx.real_data else 'synthetic 28x28 data'}",
                 "images": s.memory_limit or "all", "steps": "1 epoch", **_columns(measured)})
    # The same images are trained on in every folder size: only the folder around them grows.
    trained = min(s.memory_steps * 32, min(s.memory_images))
    peaks = []
    for count in s.memory_images:
        folder = faces_folder(count, ctx.log)
        ctx.log(f"  memory: vae-faces on a folder of {count} images")
        measured = measure([*genkit, "train", "vae-faces", "--data", f"folder:{folder}",
                            "-o", str(ctx.workdir / "memory" / f"faces-{count}"), *common,
                            "--limit", str(trained), "--batch-size", "32", "--set", "data.workers=2"], env)
        peaks.append(measured["main_peak_rss_mib"])
        rows.append({"workload": "vae-faces, folder of 128x128 PNGs (2 DataLoader workers)", "images": count,
                     "steps": -(-trained // 32), **_columns(measured)})
    growth = peaks[-1] / peaks[0] if peaks and peaks[0] else None
    return Result(rows=rows,
                  targets=[Target(f"vae-faces main-process peak RSS, {s.memory_images[-1]} / "
                                  f"{s.memory_images[0]} images in the folder", growth, FLAT_GOAL, "at_most", "x")],
                  notes=["main peak RSS: the training process's own high-water mark (VmHWM); peak tree PSS: it and "
                         "its DataLoader workers, shared pages split between them, sampled every 0.05 s",
                         f"each folder run trains on the same first {trained} images and ends with the trainer's "
                         "pass over a fixed 256-image test split"])


def _columns(measured: dict[str, float]) -> dict[str, float | None]:
    return {"wall s": measured["seconds"], "main peak RSS MiB": measured["main_peak_rss_mib"],
            "peak tree PSS MiB": measured["peak_tree_pss_mib"]}
