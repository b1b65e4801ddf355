"""A Keras-style summary of a recipe's model: per component, its layers, output shapes and parameters.

Output shapes are measured, not derived: a dummy batch runs through encoder, sampler, decoder and loss
with forward hooks on every layer. A *layer* is a module without children, or any module that owns
parameters or saved buffers directly, so the rows of a component always add up to its totals.

Parameter counts follow Keras: trainable parameters, and non-trainable state saved with the weights
(frozen parameters and persistent floating-point buffers such as BatchNorm's running mean and variance;
integer bookkeeping like ``num_batches_tracked`` is not a weight and is not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genkit.config import build_config
from genkit.model import GenerativeModel, build_model
from genkit.registry import COMPONENT_KINDS, Registry

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
    return None


def _layers(component: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in component.named_modules()
            if not any(True for _ in m.children()) or sum(count_parameters(m, recurse=False))]


def _run_with_hooks(model: GenerativeModel, watched: dict[nn.Module, None]) -> dict[nn.Module, Any]:
    """Run one dummy batch through the four parts; return each watched module's first output."""
    outputs: dict[nn.Module, Any] = {}

    def record(module, args, output):
        outputs.setdefault(module, describe_shape(output))

    handles = [m.register_forward_hook(record) for m in watched]
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(DUMMY_BATCH, *model.spec.input_shape, generator=generator)
        with torch.no_grad():
            params = model.encode(x)
            z = model.sampler(*params.values(), generator=generator)
            model.loss(x, model.decoder(z), params)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def summarize_model(model: GenerativeModel) -> dict[str, Any]:
    """The summary of a built model (see the module docstring), as a JSON-ready dict."""
    names = model.config.get("model", {})
    layers = {kind: _layers(getattr(model, kind)) for kind in COMPONENT_KINDS}
    was_training = model.training
    model.eval()  # dropout off and BatchNorm statistics untouched by the dummy batch
    try:
        outputs = _run_with_hooks(model, {m: None for rows in layers.values() for _, m in rows})
    finally:
        model.train(was_training)
    components = {}
    for kind in COMPONENT_KINDS:
        component = getattr(model, kind)
        rows = []
        for name, module in layers[kind]:
            trainable, frozen = count_parameters(module, recurse=False)
            rows.append({"name": name or names.get(kind, kind), "type": type(module).__name__,
                         "output_shape": outputs.get(module), "parameters": trainable + frozen,
                         "non_trainable": frozen})
        trainable, frozen = count_parameters(component)
        cls = type(component)
        components[kind] = {"name": names.get(kind, ""), "class": f"{cls.__module__}:{cls.__qualname__}",
                            "trainable_parameters": trainable, "non_trainable": frozen, "layers": rows}
    return {
        "recipe": model.config.get("recipe", ""),
        "input_shape": list(model.spec.input_shape),
        "z_dim": model.spec.z_dim,
        "components": components,
        "total_trainable": sum(c["trainable_parameters"] for c in components.values()),
        "total_non_trainable": sum(c["non_trainable"] for c in components.values()),
    }


def summarize_recipe(registry: Registry, recipe: str, file: str | Path | None = None,
                     overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Build ``recipe`` as a run would (recipe defaults, TOML file, ``--set`` overrides) and summarise it."""
    config = build_config(registry, recipe, file, overrides)
    summary = summarize_model(build_model(config, registry))
    for kind, part in summary["components"].items():
        part["plugin"] = registry.component(kind, part["name"]).plugin
    return summary


# -- text ------------------------------------------------------------------------------------------


def format_shape(shape: Any) -> str:
    if shape is None:
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
    lines = [f"recipe {summary['recipe']}: input {shape}, latent size {summary['z_dim']}"]
    for kind, part in summary["components"].items():
        rows = [(f"{layer['name']} ({layer['type']})", format_shape(layer["output_shape"]),
                 f"{layer['parameters']:,}") for layer in part["layers"]]
        w0 = max([len("Layer (type)"), *(len(r[0]) for r in rows)])
        w1 = max([len("Output shape"), *(len(r[1]) for r in rows)])
        w2 = max([len("Params"), *(len(r[2]) for r in rows)])
        rule = "-" * (w0 + w1 + w2 + 4)
        plugin = f", plugin {part['plugin']}" if part.get("plugin") else ""
        lines += ["", f"{kind} {part['name']} ({part['class']}{plugin})", rule,
                  f"{'Layer (type)':<{w0}}  {'Output shape':<{w1}}  {'Params':>{w2}}", rule]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}" for a, b, c in rows]
        lines += [rule, f"Trainable params: {part['trainable_parameters']:,}    "
                        f"Non-trainable params: {part['non_trainable']:,}"]
    lines += ["", f"Total trainable params: {summary['total_trainable']:,}    "
                  f"Total non-trainable params: {summary['total_non_trainable']:,}"]
    return "\n".join(lines)
