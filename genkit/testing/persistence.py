"""The save/load round trip through a run folder, the way training writes it and ``genkit.load`` reads it.

``check_save_load`` first changes the model as training does, so that nothing that should be saved
still holds its initial value: two Adam steps of the model's loss and of every later stage's loss move the
weights (a stage's prior network too), training-mode forwards move the batch norm statistics, and a sampler
that fits its prior is fitted to the model's codes. It then writes
``config.json`` and ``model.safetensors`` with ``genkit.run.checkpoint`` (what ``genkit train`` calls),
loads the folder with ``genkit.load`` and requires, bitwise:

- the same state_dict (every weight and persistent buffer, with its dtype);
- the same encoder outputs, reconstruction, ``generate`` and eval-mode forward with a seeded
  generator (this is what catches state that lives outside the state_dict, or a component whose
  loading drops or rewrites a value);
- the loaded model in eval mode.

A model built from a private ``Registry`` is saved and loaded with that registry standing in for the
installed plugins' for the duration of the check (``genkit.testing.registry.registry_installed``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from genkit.contract.registry import Registry
from genkit.testing._asserts import (
    failures_as_assertions,
    generator,
    model_name,
    require,
    require_close,
    require_equal_states,
    uniform_images,
)
from genkit.testing.devices import seeded_outputs
from genkit.testing.inputs import labels_for
from genkit.testing.registry import registry_installed


def train_a_little(model: Any, x: torch.Tensor, seed: int = 0) -> None:
    """Change weights, batch statistics and a fitted prior the way training does (in place)."""
    model.train()
    labels = labels_for(model.spec, len(x))
    # Adam's steps are about lr whatever the gradients' scale (the faces loss weighs MSE by 1e4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for stage in (None, *model.stage_losses):
        for step in range(2):
            optimizer.zero_grad()
            model.compute_loss(x, labels, generator=generator(seed + step), stage=stage)["loss"].backward()
            optimizer.step()
    for player in model.config.players if model.config is not None else ():
        if player.loss:  # a player's own loss (and the network it owns) moves too
            optimizer.zero_grad()
            model.compute_loss(x, labels, generator=generator(seed), player=player.name)["loss"].backward()
            optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if getattr(model.sampler, "fits_prior", False) and not model.generator_only:
        with torch.no_grad():
            model.sampler.fit_prior(model.codes(x, labels))
    model.eval()


def check_save_load(model: Any, run_dir: str | Path, registry: Registry | None = None,
                    images: torch.Tensor | None = None, *, seed: int = 0) -> Any:
    """Save ``model`` (built from a recipe) into ``run_dir`` and load it back; see the module docstring.

    ``run_dir`` must not exist or be empty. The caller's model is untouched; returns the loaded model.
    """
    import genkit
    from genkit.run import checkpoint

    who = model_name(model)
    require(bool(getattr(getattr(model, "config", None), "recipe", None)), who,
            "the model must carry the validated configuration it was built from (build it from a recipe)")
    model = copy.deepcopy(model).cpu().float()
    x = images if images is not None else uniform_images(model.spec.input_shape, 4, seed)
    with failures_as_assertions(who, "training the model before saving it"), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train_a_little(model, x, seed)
    run_dir = checkpoint.prepare_run_dir(run_dir)
    with registry_installed(registry):
        with failures_as_assertions(who, "saving the run folder"):
            checkpoint.write_config(run_dir, model.config)
            checkpoint.save_weights(run_dir, model, epoch=1)
        with failures_as_assertions(who, f"genkit.load({str(run_dir)!r})"):
            # the weights as trained: a model with averaged weights (training.ema_decay) is loaded with its
            # average in place by default, which check_averaged_export holds to the export
            loaded = genkit.load(run_dir, weights="trained")
    require(not loaded.training, who, "genkit.load must return the model in eval mode")
    require_equal_states(loaded, model, who, "after saving and loading the run folder")
    with failures_as_assertions(who, "the loaded model's forward"):
        after = seeded_outputs(loaded, x, generator, seed)
    for key, value in seeded_outputs(model, x, generator, seed).items():
        require_close(after[key], value, who, f"{key} after saving and loading the run folder", atol=0.0)
    return loaded
