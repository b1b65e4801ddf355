"""What every scenario shares in one run: sizes, threads, a work folder, the data and one trained export.

Artifacts that several scenarios need (the dataset in memory, a small trained run and its ONNX export)
are made on first request and reused, so running a single scenario costs only what it needs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .data import FASHION, SHAPE, SlicedData, fashion_available, synthetic_npz
from .sizes import Sizes


class Context:
    def __init__(self, sizes: Sizes, threads: int, workdir: Path, log: Callable[[str], None] | None = None):
        self.sizes, self.threads, self.workdir = sizes, threads, Path(workdir)
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._data_spec: str | None = None
        self._dataset: Any = None
        self._run: Path | None = None
        self._export: Path | None = None
        self.notes: list[str] = []

    def compare(self, windows, baseline: str | None = None, budget_scale: float = 1.0):
        """Interleaved rates of ``windows`` with this mode's rounds, warm-up and time budget, and their summary."""
        from .timing import interleave, summarize

        s = self.sizes
        rates = interleave(windows, s.rounds, warmup=s.warmup, budget_s=s.budget_s * budget_scale)
        return rates, summarize(rates, baseline)

    @property
    def data_spec(self) -> str:
        """The dataset name that ``load_dataset`` and ``genkit train --data`` accept."""
        if self._data_spec is None:
            if not self.sizes.synthetic_data and fashion_available():
                self._data_spec = FASHION
            else:
                train, test = (60000, 10000) if not self.sizes.synthetic_data else (1024, 256)
                path = synthetic_npz(self.workdir / "data" / f"synthetic-{train}.npz", train, test)
                self._data_spec = f"npz:{path}"
                if not self.sizes.synthetic_data:
                    self.notes.append("Fashion-MNIST is not installed here: synthetic images of its shape were used")
        return self._data_spec

    @property
    def real_data(self) -> bool:
        return self.data_spec == FASHION

    def dataset(self):
        if self._dataset is None:
            from genkit.data import load_dataset

            self._dataset = load_dataset(self.data_spec, SHAPE)
        return self._dataset

    def train_images(self, limit: int = 0):
        """The training images as one float32 tensor (the first ``limit`` of them when > 0)."""
        split = self.dataset().split("train")
        return split.limit(limit).images if limit else split.images

    def base_overrides(self) -> list[str]:
        return [f'data.name="{self.data_spec}"', "data.workers=0", "training.samples=0",
                f"training.threads={self.threads}"]

    def trained_run(self) -> Path:
        """A ``vae`` run trained for one epoch on a few thousand images: what inference needs."""
        if self._run is None:
            from genkit.config import build_config
            from genkit.contract.host import get_registry
            from genkit.training import Trainer

            run = self.workdir / "runs" / "vae"
            config = build_config(get_registry(), "vae", overrides=[*self.base_overrides(), "training.epochs=1"])
            data = SlicedData(self.dataset(), self.sizes.export_limit)
            Trainer(config, run, dataset=data, progress=False, log=lambda line: None).run()
            self._run = run
        return self._run

    def export_dir(self) -> Path:
        """The trained run exported to ONNX through genkit's own exporter."""
        if self._export is None:
            from genkit.onnx.export_run import export_run

            out = self.workdir / "exports" / "vae"
            export_run(self.trained_run(), out)
            self._export = out
        return self._export
