"""onnxruntime sessions on the CPU or CUDA provider, and running one graph on a batch.

onnxruntime, asked for a provider it cannot start, logs a warning and runs on the CPU; here a
``cuda`` request that does not end with the CUDA provider in charge is an error, because a user
who asks for the GPU and silently gets the CPU misreads every timing and capacity plan.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import ExportError, GenkitError

PROVIDERS = ("auto", "cpu", "cuda")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
IO_BINDING_MODES = ("auto", "always", "never")
# On CUDA, IO binding keeps outputs on the device so that reconstruct hands the encoder's code to the
# decoder without a round trip through host memory. Measured on an H100 (benchmarks/gpu_onnx_check.py,
# results in benchmarks/results/gpu-onnx-*.json) it did not pay for these small graphs: at batch 256
# binding was 5-10 % slower for vae and 40 % slower for vae-faces, so "auto" leaves it off; "always"
# keeps it available for larger models where the host round trip dominates.
IO_BINDING_MIN_BATCH: int | None = None
# onnxruntime's intra-op threads spin for 10-50 ms after every run unless told not to, and keep the
# cores from whatever the process does next: in benchmarks/results/20261202-015500-full-inference.json
# a torch call right after a spinning session ran 32-39 % slower than after a non-spinning one.
# Spinning pays only for one session with intra-op threads: the vae decoder at batch 256 ran 1.53x
# faster with it (encoder 1.03x) and batch-1 latency fell from 0.11 / 0.24 ms to 0.07 / 0.17 ms. Large
# CPU batches run on single-threaded shards (batch_parallel), which have no threads to spin and were
# faster still (decoder 12,560 against 10,331 images/s), so it is off unless a caller asks for it:
# ``spinning=True`` suits a latency-bound process that does nothing else.
SPINNING = False


class ProviderError(GenkitError, RuntimeError):
    """The execution provider asked for cannot run here."""


def _ort():
    import onnxruntime

    return onnxruntime


def session_options(threads: int = 0, optimization: str = "all", spinning: bool = SPINNING) -> Any:
    """Options for every genkit session: full graph optimisation (fusions) and an optional thread count."""
    ort = _ort()
    if optimization not in OPTIMIZATION_LEVELS:
        raise GenkitError(f"unknown graph optimization {optimization!r}; "
                          f"choose one of {', '.join(OPTIMIZATION_LEVELS)}")
    if not isinstance(threads, int) or threads < 0:
        raise GenkitError(f"threads must be a non-negative integer (0: onnxruntime's default); got {threads!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    options.intra_op_num_threads = threads
    # onnxruntime's intra-op threads spin for tens of milliseconds after each run by default (see SPINNING)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: provider trouble is reported by ProviderError instead
    return options


def cuda_available() -> bool:
    """Whether this onnxruntime build has a CUDA provider at all (it may still fail to start)."""
    return CUDA_PROVIDER in _ort().get_available_providers()


def _provider_list(provider: str) -> list[str]:
    if provider not in PROVIDERS:
        raise ProviderError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    if provider == "cpu" or (provider == "auto" and not cuda_available()):
        return [CPU_PROVIDER]
    if not cuda_available():
        ort = _ort()
        raise ProviderError(
            f"provider 'cuda' asked for, but this onnxruntime {ort.__version__} has no CUDA execution provider "
            f"(it has {', '.join(ort.get_available_providers())}); replace the onnxruntime package with "
            f"onnxruntime-gpu, or use --provider cpu"
        )
    return [CUDA_PROVIDER, CPU_PROVIDER]


class GraphSession:
    """One graph in one onnxruntime session, with its input and output names and the provider in use."""

    def __init__(self, model: str | os.PathLike | bytes, provider: str = "auto", threads: int = 0,
                 optimization: str = "all", io_binding: str = "auto", source: str = "", spinning: bool = SPINNING):
        ort = _ort()
        if io_binding not in IO_BINDING_MODES:
            raise GenkitError(f"unknown io_binding {io_binding!r}; choose one of {', '.join(IO_BINDING_MODES)}")
        self.source = source or (str(model) if not isinstance(model, bytes) else "graph")
        wanted = _provider_list(provider)
        data = str(model) if isinstance(model, (str, os.PathLike, Path)) else model
        try:
            with _provider_logs_silenced(CUDA_PROVIDER in wanted):
                # enable_fallback=0: onnxruntime would otherwise print to stdout and retry on the CPU.
                self.session = ort.InferenceSession(data, sess_options=session_options(threads, optimization, spinning),
                                                    providers=wanted, enable_fallback=0)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            if provider != "auto" and CUDA_PROVIDER in wanted and "CUDA" in str(exc):
                raise ProviderError(f"the CUDA provider failed to start: {_first_line(exc)}") from None
            raise ExportError(f"{self.source} is not a graph onnxruntime can load: {_first_line(exc)}") from None
        self.providers = list(self.session.get_providers())
        if CUDA_PROVIDER in wanted and self.providers[0] != CUDA_PROVIDER:
            if provider == "cuda":
                raise ProviderError(
                    "provider 'cuda' asked for, but onnxruntime's CUDA provider did not start (the CUDA or cuDNN "
                    "libraries that onnxruntime-gpu needs are missing or do not match the driver); "
                    "use --provider cpu, or fix the CUDA installation"
                )
        self.on_cuda = self.providers[0] == CUDA_PROVIDER
        self.io_binding = io_binding
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def signature(self, which: str) -> dict[str, tuple[list, str]]:
        """``"inputs"`` or ``"outputs"``: name -> (shape, onnxruntime type such as ``tensor(float)``)."""
        values = self.session.get_inputs() if which == "inputs" else self.session.get_outputs()
        return {v.name: (list(v.shape), v.type) for v in values}

    def metadata_props(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def uses_binding(self, batch: int) -> bool:
        if self.io_binding == "auto":
            return self.on_cuda and IO_BINDING_MIN_BATCH is not None and batch >= IO_BINDING_MIN_BATCH
        return self.io_binding == "always"

    def run(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run on host arrays; returns host arrays by output name."""
        batch = len(next(iter(feeds.values())))
        if self.uses_binding(batch):
            return self.run_bound(feeds, to_host=True)
        return dict(zip(self.output_names, self.session.run(None, feeds)))

    def run_bound(self, feeds: dict[str, Any], to_host: bool = False) -> dict[str, Any]:
        """Run with IO binding: inputs are host arrays or OrtValues; the outputs are OrtValues left on the
        session's device, or host arrays with ``to_host``.

        Leaving the outputs where the provider produced them lets one graph's output feed the next graph
        without a round trip through host memory.
        """
        ort = _ort()
        binding = self.session.io_binding()
        for name, value in feeds.items():
            if isinstance(value, ort.OrtValue):
                binding.bind_ortvalue_input(name, value)
            else:
                binding.bind_cpu_input(name, value)
        for name in self.output_names:
            binding.bind_output(name, "cuda" if self.on_cuda else "cpu", 0)
        self.session.run_with_iobinding(binding)
        outputs = binding.copy_outputs_to_cpu() if to_host else binding.get_outputs()
        return dict(zip(self.output_names, outputs))


@contextlib.contextmanager
def _provider_logs_silenced(active: bool):
    """Hide onnxruntime's own report of a CUDA provider that does not start (a Python warning and a C++
    log line): the provider check below turns it into one clear error, or a deliberate CPU fall-back."""
    if not active:
        yield
        return
    ort = _ort()
    ort.set_default_logger_severity(4)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        ort.set_default_logger_severity(2)  # onnxruntime's own default: warnings and above


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
