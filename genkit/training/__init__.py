"""Training: the one loop (``Trainer``), its stages, optimizer and schedule, and its callbacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genkit.training.callbacks import Callback, CallbackSurface
from genkit.training.device import autocast, resolve_device
from genkit.training.loop import Trainer, TrainResult
from genkit.training.stop_signals import TrainingInterrupted

__all__ = ["Callback", "CallbackSurface", "Trainer", "TrainResult", "TrainingInterrupted", "autocast", "resolve_device",
           "summary_json", "train"]


def train(config, run_dir: str | Path, **kwargs: Any) -> TrainResult:
    return Trainer(config, run_dir, **kwargs).run()


def summary_json(result: TrainResult) -> str:
    return json.dumps({"run": str(result.run_dir), "epochs": result.epochs,
                       "last": result.metrics[-1] if result.metrics else None})
