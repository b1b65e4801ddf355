"""What an export needs from a model's components beyond tracing, checked before anything is exported.

The runtime samples on the host, so the sampler's prior must be *described*: one of the families of
``genkit.contract.priors`` (``describe_prior``, which ``genkit.testing`` calls too, so a plugin author hears it
before a user's export does). The encoder, sampler and decoder must keep the tensors-in, tensors-out
shapes the graphs are built on (``check_outputs``). A component that breaks a contract is named with
its plugin, so the user knows whom to ask.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from genkit.contract.components import Sampler
from genkit.contract.priors import FAMILIES
from genkit.errors import ExportError
from genkit.export_contract import LATENT
from genkit.export_contract.priors import PriorDescriptionError, parse_prior

SAMPLING_METHODS = ("sample", "sample_codes", "describe")  # what the runtime re-implements per family


def who(kind: str, components: dict[str, Any]) -> str:
    """``encoder 'conv' (plugin vae)``: how an error names a component."""
    entry = components.get(kind) or {}
    plugin = f" (plugin {entry['plugin']})" if entry.get("plugin") else ""
    return f"{kind} {entry.get('name', '?')!r}{plugin}"


def own_sample_prior(sampler: Any) -> bool:
    """Whether the sampler draws from its prior in its own way instead of ``prior().sample``."""
    return type(sampler).sample_prior is not Sampler.sample_prior


def describe_prior(prior: Any, latent_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The JSON description of a sampler's prior that an export carries, checked as the runtime will read it.

    ``ExportError`` (the reason, naming what to implement) when the prior is not one of the families of
    ``genkit.contract.priors`` that the torch-free runtime samples, or its arrays do not fit ``latent_shape``.
    """
    names = ", ".join(cls.__name__ for cls in FAMILIES.values())
    cls = type(prior)
    family = FAMILIES.get(getattr(cls, "family", None))
    if family is None or not isinstance(prior, family):
        raise ExportError(f"prior() returns {_name(prior)}, which the torch-free runtime cannot sample: return one "
                          f"of genkit.contract.priors' {names} (a learnt prior over codes is a NetworkPrior)")
    changed = [m for m in SAMPLING_METHODS if getattr(cls, m, None) is not getattr(family, m, None)]
    if changed:
        raise ExportError(f"prior() returns {cls.__name__}, a {family.__name__} that overrides {', '.join(changed)}; "
                          f"the runtime draws from a {family.family} prior by the family's own rule, so return a "
                          f"plain {family.__name__}")
    if family.family == "network" and not isinstance(prior.network, nn.Module):
        raise ExportError(f"its NetworkPrior's network is a {type(prior.network).__name__}; it must be a torch "
                          f"nn.Module mapping codes (N, *grid) to logits (N, M, *grid), exported as prior.onnx")
    try:
        description = json.loads(json.dumps(prior.describe()))
        parse_prior(description, tuple(latent_shape or prior.latent_shape))
    except PriorDescriptionError as exc:
        raise ExportError(f"its prior cannot be described for the runtime: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ExportError(f"its prior's describe() is not JSON: {exc}") from None
    return description


def describe_sampler(model: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """The ``sampler`` metadata: its name, plugin and class, and the description of its prior."""
    sampler = model.sampler
    name = f"sampler {entry.get('name', '?')!r}" + (f" (plugin {entry['plugin']})" if entry.get("plugin") else "")
    if own_sample_prior(sampler):
        raise ExportError(f"{name} cannot be exported to ONNX: it overrides sample_prior, so its samples do not "
                          f"come from prior(), which is what the torch-free runtime draws from")
    try:
        with torch.no_grad():
            description = describe_prior(sampler.prior(), tuple(model.spec.latent_shape))
    except ExportError as exc:
        raise ExportError(f"{name} cannot be exported to ONNX: {exc}") from None
    return {"name": entry.get("name"), "plugin": entry.get("plugin"), "class": entry.get("class"),
            "prior": description}


def check_outputs(model: Any, images: torch.Tensor, labels: torch.Tensor | None,
                  components: dict[str, Any]) -> dict[str, tuple[int, ...]] | None:
    """The encoder, sampler and decoder keep the shapes the graphs are built on; the encoder's output shapes.

    A generator-only model (no encoder) has its decoder checked on prior draws, and gives None.
    """
    spec, n = model.spec, len(images)
    condition = model.condition(labels)
    names = tuple(spec.parameter_names)
    if model.encoder is None:
        with torch.no_grad():
            z = model.sampler.sample_prior(n, generator=torch.Generator().manual_seed(0))
            _check_decoded(model.decoder(z, *condition), n, spec, components)
        return None
    with torch.no_grad():
        params = model.encoder(images, *condition)
        if not (isinstance(params, tuple) and len(params) == len(names)
                and all(isinstance(p, torch.Tensor) and p.dim() >= 1 and len(p) == n for p in params)):
            raise ExportError(f"{who('encoder', components)} cannot be exported to ONNX: forward must return a "
                              f"tuple of {len(names)} tensors ({', '.join(names)}), each (N, ...); "
                              f"got {_shapes(params)}")
        if LATENT in names:
            raise ExportError(f"{who('sampler', components)} cannot be exported to ONNX: it names an encoder output "
                              f"{LATENT!r}, the name the encoder graph gives the deterministic code; rename it")
        latent = model.sampler.mean(*params)
        want = (n, *spec.latent_shape)
        if not (isinstance(latent, torch.Tensor) and tuple(latent.shape) == want):
            raise ExportError(f"{who('sampler', components)} cannot be exported to ONNX: mean() must return one "
                              f"tensor of shape {_dims(want)}; got {_shapes(latent)}")
        x_hat = model.decoder(latent, *condition)
    _check_decoded(x_hat, n, spec, components)
    return {name: tuple(p.shape[1:]) for name, p in zip(names, params)}


def _check_decoded(x_hat: Any, n: int, spec: Any, components: dict[str, Any]) -> None:
    if not (isinstance(x_hat, torch.Tensor) and tuple(x_hat.shape) == (n, *spec.input_shape)):
        raise ExportError(f"{who('decoder', components)} cannot be exported to ONNX: forward must return one "
                          f"tensor of shape {_dims((n, *spec.input_shape))}; got {_shapes(x_hat)}")


def _name(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _dims(shape: tuple[int, ...]) -> str:
    return "(N, " + ", ".join(str(d) for d in shape[1:]) + ")"


def _shapes(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of " + ", ".join(
            str(tuple(v.shape)) if isinstance(v, torch.Tensor) else type(v).__name__ for v in value)
    return type(value).__name__

