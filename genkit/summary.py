"""A Keras-style summary of a recipe's model: per component, its layers, output shapes and parameters.

Output shapes are measured, not derived: a dummy batch (with labels cycling over the classes of a
conditional model) runs through encoder, sampler, decoder, loss, the losses of later training stages
and those of the recipe's players with forward hooks on every layer, so spatial latents and conditions
show as they are. A generator-only model has no encoder to list (its forward pass draws from the prior). A
*layer* is a module without children, or any module that owns parameters or saved buffers directly, so
the rows of a component always add up to its totals. Each component's settings are listed with it.

Parameter counts follow Keras: trainable parameters, and non-trainable state saved with the weights
(frozen parameters and persistent floating-point buffers such as BatchNorm's running mean and variance;
integer bookkeeping like ``num_batches_tracked`` is not a weight and is not counted).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genkit.config import build_config
from genkit.contract.model import GenerativeModel, build_model, cycle_labels
from genkit.contract.registry import COMPONENT_KINDS, Registry

DUMMY_BATCH = 2  # more than one image, so nothing that depends on the batch size is hidden


def count_parameters(module: nn.Module, recurse: bool = True) -> tuple[int, int]:
    """(trainable, non_trainable) element counts of ``module``'s weights."""
    trainable = frozen = 0
    for p in module.parameters(recurse=recurse):
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    saved = module.state_dict(keep_vars=True)
    for name, buffer in module.named_buffers(recurse=recurse):
        if name in saved and buffer.is_floating_point():
            frozen += buffer.numel()
    return trainable, frozen


def describe_shape(value: Any) -> Any:
    """A tensor's shape with the batch axis as ``None`` (Keras' convention); nested for tuples and dicts."""
    if isinstance(value, torch.Tensor):
        return [None, *value.shape[1:]] if value.dim() else []
    if isinstance(value, (tuple, list)):
        return [describe_shape(v) for v in value]
    if isinstance(value, dict):
        return {k: describe_shape(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a SamplerOutput: z and its extras
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if isinstance(item, dict):
                out.update({k: describe_shape(v) for k, v in item.items()})
            elif item is not None:
                out[f.name] = describe_shape(item)
        return out
    return None


def _layers(component: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in component.named_modules()
            if not any(True for _ in m.children()) or sum(count_parameters(m, recurse=False))]


def _parts(model: GenerativeModel) -> dict[str, tuple[str, str, nn.Module]]:
    """The summarised parts by key: (kind, registered name, module); a later stage's loss as ``stage NAME``, a
    player's own loss as ``player NAME``. A generator-only model's missing encoder is left out."""
    names = model.config.model
    parts = {kind: (kind, getattr(names, kind), getattr(model, kind)) for kind in COMPONENT_KINDS
             if getattr(model, kind) is not None}
    for stage in model.config.stages:
        parts[f"stage {stage.name}"] = ("loss", stage.loss, model.stage_losses[stage.name])
    for player in model.config.players:
        if player.name in model.player_losses:
            parts[f"player {player.name}"] = ("loss", player.loss, model.player_losses[player.name])
    return parts


def _run_with_hooks(model: GenerativeModel, watched: dict[nn.Module, None]) -> dict[nn.Module, Any]:
    """Run one dummy batch through every part; return each watched module's first output."""
    outputs: dict[nn.Module, Any] = {}

    def record(module, args, output):
        outputs.setdefault(module, describe_shape(output))

    handles = [m.register_forward_hook(record) for m in watched]
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(DUMMY_BATCH, *model.spec.input_shape, generator=generator)
        labels = cycle_labels(DUMMY_BATCH, model.spec.classes)
        with torch.no_grad():
            for loss in (model.loss, *model.stage_losses.values(), *model.player_losses.values()):
                # the decoder runs even for a loss that needs no reconstruction, so its layers are measured
                loss(x, model(x, labels, generator=generator))
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def summarize_model(model: GenerativeModel) -> dict[str, Any]:
    """The summary of a built model (see the module docstring), as a JSON-ready dict."""
    parts = _parts(model)
    layers = {key: _layers(module) for key, (_, _, module) in parts.items()}
    was_training = model.training
    model.eval()  # dropout off and BatchNorm statistics untouched by the dummy batch
    try:
        outputs = _run_with_hooks(model, {m: None for rows in layers.values() for _, m in rows})
    finally:
        model.train(was_training)
    components = {}
    for key, (kind, name, component) in parts.items():
        rows = []
        for layer, module in layers[key]:
            trainable, frozen = count_parameters(module, recurse=False)
            rows.append({"name": layer or name or kind, "type": type(module).__name__,
                         "output_shape": outputs.get(module), "parameters": trainable + frozen,
                         "non_trainable": frozen})
        trainable, frozen = count_parameters(component)
        cls = type(component)
        settings = component.settings
        components[key] = {"kind": kind, "name": name, "class": f"{cls.__module__}:{cls.__qualname__}",
                           "settings": dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else {},
                           "trainable_parameters": trainable, "non_trainable": frozen, "layers": rows}
    return {
        "recipe": model.config.recipe,
        "input_shape": list(model.spec.input_shape),
        "latent_shape": list(model.spec.latent_shape),
        "classes": model.spec.classes,
        "generator_only": model.encoder is None,
        "components": components,
        "total_trainable": sum(c["trainable_parameters"] for c in components.values()),
        "total_non_trainable": sum(c["non_trainable"] for c in components.values()),
    }


def summarize_recipe(registry: Registry, recipe: str, file: str | Path | None = None,
                     overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Build ``recipe`` as a run would (recipe defaults, TOML file, ``--set`` overrides) and summarise it."""
    from genkit.memory import check_model_fits

    config = build_config(registry, recipe, file, overrides)
    check_model_fits(config, DUMMY_BATCH, training=False, registry=registry)  # before allocating it
    summary = summarize_model(build_model(config, registry))
    for part in summary["components"].values():
        part["plugin"] = registry.component(part["kind"], part["name"]).plugin
    return summary


# -- text ------------------------------------------------------------------------------------------


def format_shape(shape: Any) -> str:
    if shape is None or shape == {}:
        return "-"
    if isinstance(shape, dict):
        if all(s == [] for s in shape.values()):
            return f"scalars: {', '.join(shape)}"
        return ", ".join(f"{k}: {format_shape(s)}" for k, s in shape.items())
    if shape and isinstance(shape[0], (list, dict)):
        return ", ".join(format_shape(s) for s in shape)
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as Keras-like tables, one per component."""
    shape = "x".join(map(str, summary["input_shape"]))
    latent = summary["latent_shape"]
    latent_text = "(" + ", ".join(map(str, latent)) + ("," if len(latent) == 1 else "") + ")"
    condition = f"conditional on {summary['classes']} classes" if summary["classes"] else "unconditional"
    if summary.get("generator_only"):
        condition += ", generator-only (no encoder: it decodes draws from its prior)"
    lines = [f"recipe {summary['recipe']}: input {shape}, latent shape {latent_text}, {condition}"]
    for kind, part in summary["components"].items():
        rows = [(f"{layer['name']} ({layer['type']})", format_shape(layer["output_shape"]),
                 f"{layer['parameters']:,}") for layer in part["layers"]]
        w0 = max([len("Layer (type)"), *(len(r[0]) for r in rows)])
        w1 = max([len("Output shape"), *(len(r[1]) for r in rows)])
        w2 = max([len("Params"), *(len(r[2]) for r in rows)])
        rule = "-" * (w0 + w1 + w2 + 4)
        plugin = f", plugin {part['plugin']}" if part.get("plugin") else ""
        settings = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in part.get("settings", {}).items())
        lines += ["", f"{kind} {part['name']} ({part['class']}{plugin})"]
        lines += [f"settings: {settings}"] if settings else []
        lines += [rule,
                  f"{'Layer (type)':<{w0}}  {'Output shape':<{w1}}  {'Params':>{w2}}", rule]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}" for a, b, c in rows]
        lines += [rule, f"Trainable params: {part['trainable_parameters']:,}    "
                        f"Non-trainable params: {part['non_trainable']:,}"]
    lines += ["", f"Total trainable params: {summary['total_trainable']:,}    "
                  f"Total non-trainable params: {summary['total_non_trainable']:,}"]
    return "\n".join(lines)
