"""How much work each mode does: ``full`` (the committed results), ``quick`` (under two minutes on two
cores) and ``tiny`` (the test suite's smoke run: checks that every scenario still works, measures nothing).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Sizes:
    mode: str
    synthetic_data: bool  # tiny mode needs no dataset on disk
    window_steps: int  # optimisation steps per timing window
    rounds: int  # interleaved rounds per comparison
    warmup: int  # untimed rounds first (oneDNN builds its kernels on a shape's first call)
    budget_s: float  # a comparison stops after this many seconds once it has 3 rounds
    compile: bool  # torch.compile takes about a minute to warm up on two cores
    epoch_loss: bool  # the one-epoch test-loss comparison on the whole dataset (minutes)
    loss_limit: int  # training images of the loss comparison (0: all)
    large_batch: int
    peak_sizes: tuple[int, ...]  # square matmul sizes of the peak measurement
    inference_repeats: int  # batch-1 calls per runner
    inference_calls: int  # large-batch calls per timing window
    large_inference_batch: int
    startup_repeats: int
    ablation_epochs: int
    ablation_seeds: int  # trainings per model: the spread between seeds is the yardstick of a difference
    ablation_limit: int
    ablation_samples: int
    memory_images: tuple[int, ...]  # folder sizes for the vae-faces memory comparison
    memory_steps: int
    memory_limit: int  # Fashion-MNIST images of the memory run (0: one whole epoch)
    gpu_steps: int
    export_limit: int  # training images of the run that inference and start-up export


SIZES = {
    "full": Sizes(
        "full", synthetic_data=False, window_steps=16, rounds=15, warmup=1, budget_s=240,
        compile=True, epoch_loss=True, loss_limit=0, large_batch=256, peak_sizes=(512, 1024, 2048),
        inference_repeats=200, inference_calls=4, large_inference_batch=256, startup_repeats=7,
        ablation_epochs=2, ablation_seeds=3, ablation_limit=0, ablation_samples=5000,
        memory_images=(5000, 20000), memory_steps=60, memory_limit=0, gpu_steps=60, export_limit=2048),
    "quick": Sizes(
        "quick", synthetic_data=False, window_steps=4, rounds=3, warmup=1, budget_s=6,
        compile=False, epoch_loss=False, loss_limit=0, large_batch=256, peak_sizes=(1024,),
        inference_repeats=20, inference_calls=1, large_inference_batch=256, startup_repeats=3,
        ablation_epochs=1, ablation_seeds=1, ablation_limit=512, ablation_samples=256,
        memory_images=(100, 400), memory_steps=3, memory_limit=1024, gpu_steps=20, export_limit=512),
    "tiny": Sizes(
        "tiny", synthetic_data=True, window_steps=1, rounds=1, warmup=0, budget_s=1,
        compile=False, epoch_loss=False, loss_limit=0, large_batch=64, peak_sizes=(128,),
        inference_repeats=3, inference_calls=1, large_inference_batch=16, startup_repeats=1,
        ablation_epochs=1, ablation_seeds=2, ablation_limit=128, ablation_samples=64,
        memory_images=(16,), memory_steps=1, memory_limit=128, gpu_steps=2, export_limit=128),
}
