"""The contracts of training with players, averaged weights and networks a loss owns.

- ``check_players``: one real training step of each player (genkit's own step: its optimizer, the
  turn that freezes everyone else) changes every module the player names and nothing outside them. A
  loss that steps on another player's state fails it: a critic with BatchNorm in training mode whose
  statistics move in the generator's turn, a loss that clips or edits another network's weights, a
  module the player names that its loss never reaches.
- ``check_loss_networks_not_exported``: no tensor of a network a loss owns (a critic, a discriminator)
  is in any graph of an export folder.
- ``check_averaged_export``: the export computes with the averaged weights (``training.ema_decay``), not
  the last step's.

Each raises ``AssertionError`` naming the recipe and the rule.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genkit.testing._asserts import failures_as_assertions, generator, model_name, require


def _under(name: str, paths: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in paths)


def _step_context(model: Any, device: torch.device) -> Any:
    """What ``Player.step`` reads of a trainer, for one step outside a run."""
    from genkit.training import distributed
    from genkit.training.stages import stages_of

    return types.SimpleNamespace(config=model.config, model=model, dist=distributed.SINGLE, device=device,
                                 stages=stages_of(model.config), scaler=None, noise_gen=generator(0, device),
                                 state=types.SimpleNamespace(global_step=0))


def check_players(model: Any, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, list[str]]:
    """One step of each player of ``model`` (built from a recipe with players) on images ``x``, each from the same
    weights: what changes must be exactly the player's modules (and the averaged weights following them).
    Returns, by player, the state entries its step changed."""
    from genkit.training.players import players_of

    who = model_name(model)
    require(model.config is not None and model.config.players, who, "the recipe declares no players to check")
    context = _step_context(model, x.device)
    stage = context.stages[0]
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    changed_by: dict[str, list[str]] = {}
    with failures_as_assertions(who, "building the players"):
        players = players_of(context, stage)
    for player, settings in zip(players, model.config.players):
        model.load_state_dict(before)
        model.train()
        player.take_turn(model)
        with failures_as_assertions(who, f"player {player.name!r}'s step"):
            player.step(context, x, labels, 1.0)
        after = model.state_dict()
        changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
        own = tuple(settings.trains)
        outside = [k for k in changed if not _under(k, own) and not k.startswith("averaged.")]
        require(not outside, who, f"player {player.name!r}'s step changed {', '.join(outside[:4])}, outside the "
                                  f"modules it trains ({', '.join(own)}): its loss must leave other players' weights "
                                  f"and buffers alone (put a network's BatchNorm in eval mode where it only scores)")
        for path in own:
            moved = [k for k in changed if _under(k, (path,))]
            require(moved, who, f"player {player.name!r} trains {path!r} but its step changed nothing there: its loss "
                                f"does not reach that module")
        changed_by[player.name] = changed
    model.load_state_dict(before)
    return changed_by


def _initializers(folder: Path) -> list[np.ndarray]:
    import onnx
    from onnx import numpy_helper

    arrays = []
    for path in sorted(Path(folder).glob("*.onnx")):
        graph = onnx.load(str(path)).graph
        arrays += [numpy_helper.to_array(t) for t in graph.initializer]
        for node in graph.node:  # constants folded into Constant nodes hold weights too
            arrays += [numpy_helper.to_array(a.t) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    return arrays


def check_loss_networks_not_exported(model: Any, folder: str | Path) -> int:
    """No weight of a network a loss owns (``player_losses``, ``stage_losses``) is in a graph of export ``folder``.

    Returns how many loss-owned weight tensors were looked for."""
    who = model_name(model)
    owned = [(name, p.detach().float().cpu().numpy()) for name, p in model.named_parameters()
             if name.startswith(("player_losses.", "stage_losses.")) and p.numel() > 1]
    graphs = _initializers(Path(folder))
    require(graphs, who, f"{folder} holds no ONNX graph with weights")
    for name, weight in owned:
        for array in graphs:
            for candidate in (array, array.T if array.ndim == 2 else array):
                if candidate.shape == weight.shape and np.allclose(candidate.astype(np.float32), weight, atol=1e-6):
                    raise AssertionError(f"{who}: the export in {folder} holds {name}, a weight of a network a loss "
                                         f"owns: such networks train the model and are never part of its graphs")
    return len(owned)


def check_averaged_export(run_dir: str | Path, folder: str | Path, n: int = 8, atol: float = 1e-4) -> float:
    """The export of ``run_dir`` decodes as the run's averaged weights do, and not as its last step's.

    Returns the largest difference between the export and the averaged model."""
    import genkit
    from genkit.runtime import ExportedModel

    averaged = genkit.load(run_dir, weights="averaged")
    trained = genkit.load(run_dir, weights="trained")
    who = model_name(averaged)
    require(averaged.averaged is not None, who, "the run keeps no averaged weights (training.ema_decay is 0)")
    exported = ExportedModel(folder, provider="cpu")
    z = exported.sample_prior(n, seed=0)
    labels = (np.arange(n) % averaged.spec.classes).astype(np.int64) if averaged.spec.classes else None
    got = exported.decode(z, labels)
    cond = () if labels is None else (torch.from_numpy(labels),)
    with torch.no_grad():
        want = averaged.decoder(torch.from_numpy(z), *cond).numpy()
        last = trained.decoder(torch.from_numpy(z), *cond).numpy()
    diff, apart = float(np.abs(got - want).max()), float(np.abs(want - last).max())
    require(apart > 10 * atol, who, f"the averaged and the last step's weights decode alike (differ by {apart:.3g}): "
                                    f"train longer, or with a lower decay, so the check can tell them apart")
    require(diff <= atol, who, f"the export decodes {diff:.3g} away from the averaged weights (it is "
                               f"{float(np.abs(got - last).max()):.3g} from the last step's): export with the "
                               f"averaged weights")
    return diff


