"""Where the time goes: one training step split by operator kind, for genkit fp32 and ``--fast``.

``torch.profiler`` records whole epochs of genkit's real ``Trainer``; each operator's *self* time (the
time inside it, minus the operators it called) is put into a bucket by its name. What no operator
accounts for is the Python around them: the trainer, autograd's engine, module calls. The profiler
adds its own cost to every call, so the milliseconds are inflated a little and evenly; the shares
are what to read.
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from ..context import Context
from ..result import Result
from ..workloads import build_trainer, trainer_window, window_images
from .fast_training import preset_overrides

NAME = "profile"
TITLE = "Where a training step's time goes (batch 32, per operator kind)"

# First match wins, so the backward names come before the forward ones they contain. A needle ending
# in "$" matches the whole name only ("aten::t" is a transpose; "aten::to" is a cast).
BUCKETS = (
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("convolution", "conv2d", "conv_transpose")),
    ("linear layers", ("addmm", "aten::mm", "aten::linear", "aten::t$")),
    ("optimizer (Adam)", ("adam", "_foreach", "zero_", "optimizer")),
    ("dtype casts and copies", ("_to_copy", "aten::copy_", "aten::to$", "clone", "contiguous", "empty_like")),
    ("normalisation and activations", ("batch_norm", "leaky_relu", "dropout", "sigmoid", "threshold")),
    ("element-wise arithmetic (loss, sampling, bias)", (
        "mse", "aten::exp", "aten::mul", "aten::add", "aten::sub", "aten::sum", "aten::mean", "aten::pow", "randn",
        "normal_", "aten::div", "aten::neg")),
)
PROFILED_STEPS = 40
OTHER = "other operators"
PYTHON = "Python and autograd bookkeeping (no operator)"


def bucket(name: str) -> str:
    lowered = name.lower()
    for label, needles in BUCKETS:
        if any(lowered == needle[:-1] if needle.endswith("$") else needle in lowered for needle in needles):
            return label
    return OTHER


def breakdown(trainer, steps: int) -> tuple[dict[str, float], list[tuple[str, float]], float]:
    """Milliseconds per step in each bucket, the top operators, and the profiled wall time per step."""
    window = trainer_window(trainer)
    window()  # warm-up: oneDNN builds its kernels on a shape's first call
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        window()
        seconds = time.perf_counter() - started
    per_bucket: dict[str, float] = defaultdict(float)
    per_op: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        # Only operators that ran on the training thread: the step's wall clock is theirs.
        ms = event.self_cpu_time_total / 1000 / steps
        if ms <= 0 or event.key.startswith(("ProfilerStep", "## ")):
            continue
        per_bucket[bucket(event.key)] += ms
        per_op[event.key] += ms
    wall_ms = seconds * 1000 / steps
    per_bucket[PYTHON] = max(0.0, wall_ms - sum(per_bucket.values()))
    top = sorted(per_op.items(), key=lambda item: -item[1])[:8]
    return dict(per_bucket), top, wall_ms


def run(ctx: Context) -> Result:
    torch.set_num_threads(ctx.threads)
    n = max(window_images(ctx), PROFILED_STEPS * 32) if not ctx.sizes.synthetic_data else window_images(ctx)
    steps = max(1, n // 32)
    configs = {"genkit fp32": [], "genkit --fast (bf16)": list(preset_overrides())}
    rows, details = [], {}
    for label, overrides in configs.items():
        ctx.log(f"  profile: {label}")
        per_bucket, top, wall_ms = breakdown(build_trainer(ctx, overrides, images=n), steps)
        details[label] = {"ms_per_step": per_bucket, "top_operators_ms": top, "wall_ms_per_step": wall_ms}
        for name, ms in sorted(per_bucket.items(), key=lambda item: -item[1]):
            rows.append({"configuration": label, "where": name, "ms/step": ms, "share": ms / wall_ms})
    return Result(rows=rows, details=details,
                  notes=[f"{steps} steps of batch 32 under torch.profiler after one warm-up pass; self time per "
                         "operator, bucketed by name; the profiler's own cost inflates every call",
                         "top operators per configuration are in the JSON's details"])
