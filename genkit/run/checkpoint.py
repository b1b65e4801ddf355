"""The run folder: a self-describing, pickle-free record of one training run.

    RUN/config.json             format version, genkit version, recipe, the validated configuration,
                                and each component's name, class and providing plugin distribution
    RUN/model.safetensors       the published weights (what ``genkit.load`` reads)
    RUN/checkpoint.safetensors  everything needed to resume: weights, optimizer state, data order and
                                RNG states, with the trainer's position as JSON metadata
    RUN/metrics.jsonl           one JSON object per finished epoch
    RUN/samples/                PNG grids decoded from the prior, one per epoch

Every file is replaced atomically. The checkpoint is one file so that it is always self-consistent,
and it commits an epoch: it holds the metrics of every finished epoch, and everything else follows
from it. ``model.safetensors``, ``metrics.jsonl`` and the epoch's sample grid are written after it and
can lag by one save if a run is killed in between, which ``--resume`` repairs from the checkpoint.
Leftovers of an interrupted write are dot-prefixed ``.tmp`` files that nothing reads.

config.json is ``genkit.run.config_file``; creating, checking and undoing the folder, ``genkit.run.folder``.
Loading never unpickles: tensors come from safetensors, the rest is JSON.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genkit import __version__
from genkit.errors import RunFolderError
from genkit.files import atomic
from genkit.run.config_file import (  # noqa: F401  (config.json lives in genkit.run.config_file; re-exported)
    CONFIG_FILE,
    FORMAT_VERSION,
    find_launch_run,
    provenance,
    read_config,
    validated_config,
    write_config,
)
from genkit.run.folder import (  # noqa: F401  (the folder's life lives in genkit.run.folder; re-exported)
    CHECKPOINT_FILE,
    METRICS_FILE,
    SAMPLES_DIR,
    WEIGHTS_FILE,
    discard_uncommitted,
    has_checkpoint,
    is_run_dir,
    new_run_dir,
    prepare_resume_dir,
    prepare_run_dir,
    run_path,
)

# -- weights --------------------------------------------------------------------------------------

def _state_tensors(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    # clone + contiguous: safetensors refuses shared or strided storage
    return {prefix + k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def _load_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise RunFolderError(f"{path} is missing; the run has no saved weights yet")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RunFolderError(f"{path} is corrupt or truncated ({exc}); retrain or resume from a good copy") from None


def _save_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    with atomic.atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_weights(run_dir: Path, model: torch.nn.Module, epoch: int) -> None:
    _save_safetensors(run_dir / WEIGHTS_FILE, _state_tensors(model),
                      {"format": "genkit-model", "genkit_version": __version__, "epoch": str(epoch)})


def repair_weights(run_dir: Path, model: torch.nn.Module, epoch: int) -> bool:
    """Rewrite model.safetensors unless it is readable and holds exactly ``model``'s weights; True if it did."""
    try:
        tensors, _ = _load_safetensors(run_dir / WEIGHTS_FILE)
    except RunFolderError:
        tensors = {}
    expected = model.state_dict()
    if tensors.keys() == expected.keys() and all(
            tensors[k].shape == v.shape and torch.equal(tensors[k], v.detach().cpu()) for k, v in expected.items()):
        return False
    save_weights(run_dir, model, epoch)
    return True


def load_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{'...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong)) if keys)
        raise RunFolderError(f"{source} does not match the model its config.json describes ({detail})")
    model.load_state_dict(tensors)


def load_model(run_dir: str | Path, device: str = "cpu", weights: str = "averaged"):
    """Build the run's model from config.json and load model.safetensors; eval mode.

    A run that keeps averaged weights (``training.ema_decay``) gives the model with them in place, as it is
    evaluated and exported; ``weights="trained"`` gives the last step's weights instead.
    """
    if weights not in ("averaged", "trained"):
        raise ValueError(f"weights must be 'averaged' or 'trained', got {weights!r}")
    from genkit.contract.model import build_model

    run_dir = Path(run_dir)
    config = validated_config(run_dir)
    model = build_model(config)
    tensors, _ = _load_safetensors(run_dir / WEIGHTS_FILE)
    load_state(model, tensors, run_dir / WEIGHTS_FILE)
    if config.schedules:  # the scheduled loss settings in force when the weights were saved, not their start
        from genkit.training.schedules import apply, set_values

        done = read_metrics(run_dir)
        if done:
            set_values(model, done[-1].get("settings", {}))
        else:  # no epoch committed: where the schedules start
            apply(model, config.schedules, 0, 0)
    if model.averaged is not None and weights == "averaged":
        model.averaged.copy_to(model)
    return model.to(device).eval()


# -- resumable checkpoint -------------------------------------------------------------------------

@dataclasses.dataclass
class TrainerState:
    """Where training stands: ``epoch`` epochs finished (across stages), ``step`` steps into the next one,
    in training stage ``stage`` (an index into the run's stages; 0 is the first)."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    permutation: torch.Tensor | None = None  # the data order of the epoch in progress
    rng: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # JSON-able, e.g. scaler state
    # the records of the finished epochs (metrics.jsonl follows them); None from a checkpoint without them
    metrics: list[dict[str, Any]] | None = None
    stage: int = 0


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (Adam's moments) its parameter's memory layout.

    A checkpoint stores tensors contiguous; a channels-last parameter's moments come back NCHW. The
    fused Adam kernel walks parameter, gradient and moments as flat memory, so mismatched layouts pair
    the wrong elements and a resumed run silently diverges.
    """
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | dict[str, torch.optim.Optimizer], state: TrainerState) -> None:
    """Write the checkpoint: ``optimizer`` is the one optimizer, or every player's by name (in turn order)."""
    tensors = _state_tensors(model, "model.")
    trainer = {"epoch": state.epoch, "step": state.step, "global_step": state.global_step, "stage": state.stage,
               "extra": state.extra}
    if isinstance(optimizer, dict) and len(optimizer) > 1:
        trainer["optimizers"] = []
        for i, (name, opt) in enumerate(optimizer.items()):
            opt_tensors, opt_meta = _flatten_optimizer(opt.state_dict())
            tensors.update({f"optimizers.{i}.{key.partition('.')[2]}": v for key, v in opt_tensors.items()})
            trainer["optimizers"].append({"player": name, **opt_meta})
    else:  # one optimizer: the format every run without players has always had
        opt_tensors, trainer["optimizer"] = _flatten_optimizer(
            next(iter(optimizer.values())).state_dict() if isinstance(optimizer, dict) else optimizer.state_dict())
        tensors.update(opt_tensors)
    tensors.update({f"rng.{k}": v.contiguous().clone() for k, v in state.rng.items()})
    if state.permutation is not None:
        tensors["data.permutation"] = state.permutation.to("cpu").contiguous().clone()
    if state.metrics is not None:
        trainer["metrics"] = state.metrics
    _save_safetensors(run_dir / CHECKPOINT_FILE, tensors,
                      {"format": "genkit-checkpoint", "genkit_version": __version__, "trainer": json.dumps(trainer)})


OptimizerSource = torch.optim.Optimizer | dict[str, torch.optim.Optimizer]


def load_checkpoint(run_dir: Path, model: torch.nn.Module,
                    optimizer: OptimizerSource | Callable[[int], OptimizerSource]) -> TrainerState:
    """Load a checkpoint into ``model`` and the optimizers; ``optimizer`` is the one optimizer, every player's by
    name, or a function of the stage index the checkpoint records returning either (each stage optimises its own
    parameters)."""
    path = run_dir / CHECKPOINT_FILE
    tensors, metadata = _load_safetensors(path)
    try:
        trainer = json.loads(metadata["trainer"])
    except (KeyError, json.JSONDecodeError):
        raise RunFolderError(f"{path} has no trainer state; it is not a genkit checkpoint") from None
    counters = ("epoch", "step", "global_step", "stage")
    if isinstance(trainer, dict):
        trainer.setdefault("stage", 0)  # checkpoints of runs without stages
    if not isinstance(trainer, dict) or not all(
            isinstance(trainer.get(k), int) and not isinstance(trainer.get(k), bool) and trainer[k] >= 0
            for k in counters) or not (isinstance(trainer.get("optimizer"), dict) or _optimizer_list(
                trainer.get("optimizers"))) \
            or not isinstance(trainer.get("extra", {}), dict) or not _metric_records(trainer.get("metrics", [])):
        raise RunFolderError(f"{path} has a corrupt trainer state (epoch, step and global_step must be "
                             f"counts, optimizer and extra tables, metrics a list of epoch records)")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "optimizer": {}, "optimizers": {}, "rng": {},
                                                  "data": {}}
    for name, value in tensors.items():
        head, _, rest = name.partition(".")
        groups.setdefault(head, {})[rest if head not in ("optimizer", "optimizers") else name] = value
    load_state(model, groups["model"], path)
    if callable(optimizer):
        optimizer = optimizer(trainer["stage"])
    _load_optimizers(optimizer, trainer, groups, path)
    return TrainerState(trainer["epoch"], trainer["step"], trainer["global_step"],
                        groups["data"].get("permutation"), groups["rng"], trainer.get("extra", {}),
                        trainer.get("metrics"), trainer["stage"])


def _optimizer_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and isinstance(v.get("player"), str)
                                                          for v in value)


def _load_optimizers(optimizer: OptimizerSource, trainer: dict[str, Any], groups: dict[str, dict[str, torch.Tensor]],
                     path: Path) -> None:
    """Each optimizer's state from the checkpoint; the players it was written by must be the run's."""
    mine = optimizer if isinstance(optimizer, dict) else {"main": optimizer}
    if "optimizers" in trainer:
        saved = [entry["player"] for entry in trainer["optimizers"]]
        states = []
        for i, entry in enumerate(trainer["optimizers"]):
            prefix = f"optimizers.{i}."
            flat = {f"optimizer.{k[len(prefix):]}": v for k, v in groups["optimizers"].items() if k.startswith(prefix)}
            states.append((flat, {k: v for k, v in entry.items() if k != "player"}))
    else:
        saved, states = [next(iter(mine))] if len(mine) == 1 else ["(one optimizer)"], [
            (groups["optimizer"], trainer["optimizer"])]
    if saved != list(mine):
        raise RunFolderError(f"{path} holds the optimizers of players {', '.join(saved)}, but this run trains "
                             f"{', '.join(mine)}: the recipe's players changed since it was written; train a new run")
    for opt, (flat, meta) in zip(mine.values(), states):
        try:
            opt.load_state_dict(_unflatten_optimizer(flat, meta))
        except (KeyError, ValueError, IndexError, TypeError, AttributeError) as exc:
            raise RunFolderError(f"{path} holds an optimizer state that does not fit this model ({exc})") from None
        match_parameter_layout(opt)


def check_turn(state: TrainerState, player: str, cycle: int, path: Path) -> None:
    """Refuse a checkpoint whose recorded turn is not the one the run's cycle of players gives at its step."""
    turn = state.extra.get("turn")
    if turn is None:
        return
    if not isinstance(turn, dict) or turn.get("player") != player or turn.get("cycle") != cycle:
        raise RunFolderError(f"{path} stopped before {turn.get('player') if isinstance(turn, dict) else turn!r}'s "
                             f"turn in a cycle of {turn.get('cycle') if isinstance(turn, dict) else '?'} steps, but "
                             f"this run's players give {player!r}'s turn in a cycle of {cycle}: the players' steps "
                             f"changed since it was written; train a new run")


def _metric_records(records: Any) -> bool:
    return isinstance(records, list) and all(isinstance(r, dict) and isinstance(r.get("epoch"), int)
                                             for r in records)


def check_position(state: TrainerState, count: int, batch_size: int, path: Path) -> None:
    """Refuse a checkpoint whose data order does not fit ``count`` training images (changed data, tampering)."""
    order = state.permutation
    if order is None:
        if state.step:
            raise RunFolderError(f"{path} is mid-epoch (step {state.step}) but holds no data order")
        return
    if order.dtype != torch.int64 or order.dim() != 1 or len(order) != count or \
            not torch.equal(torch.sort(order).values, torch.arange(count)):
        raise RunFolderError(f"{path} holds a data order for {len(order)} images, not a permutation of the "
                             f"{count} training images: the data changed since it was written, or the file did")
    if state.step * batch_size >= count and state.step:
        raise RunFolderError(f"{path} is at step {state.step}, past the end of an epoch of {count} images")
    partial = state.extra.get("partial")
    if partial is not None and not (isinstance(partial, dict) and isinstance(partial.get("totals"), list)
                                    and isinstance(partial.get("seen"), int)
                                    and isinstance(partial.get("seconds"), (int, float))):
        raise RunFolderError(f"{path} has a corrupt mid-epoch record")


# -- metrics.jsonl --------------------------------------------------------------------------------

def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunFolderError(f"{path} line {number} is not valid JSON") from None
    return records


def write_metrics(run_dir: Path, records: list[dict[str, Any]]) -> None:
    # rewritten whole (it is small) so a crash never leaves half a line
    atomic.write_text(run_dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in records))


def repair_metrics(run_dir: Path, records: list[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl where it is not ``records`` (the checkpoint's): lost, stale or damaged."""
    try:
        logged = read_metrics(run_dir)
    except RunFolderError:
        logged = None
    if logged != records:
        write_metrics(run_dir, records)
