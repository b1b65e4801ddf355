"""What an export needs from a model's components beyond tracing, checked before anything is exported.

The runtime re-implements sampling on the host, so the sampler must be describable: its deterministic
code must be one of the encoder's outputs, and its prior the diagonal Gaussian of ``prior()``. A
component that breaks a contract is named with its plugin, so the user knows whom to ask.
"""

from __future__ import annotations

from typing import Any

import torch

from genkit.components import Sampler
from genkit.errors import ExportError
from genkit.onnx.metadata import PRIOR_FAMILY


def who(kind: str, components: dict[str, Any]) -> str:
    """``encoder 'conv' (plugin vae)``: how an error names a component."""
    entry = components.get(kind) or {}
    return f"{kind} {entry.get('name', '?')!r} (plugin {entry.get('plugin', '?')})"


def check_outputs(model: Any, images: torch.Tensor, components: dict[str, Any]) -> None:
    """The encoder and decoder keep the tensors-in, tensors-out contract the graphs are built on."""
    spec, n = model.spec, len(images)
    with torch.no_grad():
        params = model.encoder(images)
        names = spec.parameter_names
        if not (isinstance(params, tuple) and len(params) == len(names)
                and all(isinstance(p, torch.Tensor) and tuple(p.shape) == (n, spec.z_dim) for p in params)):
            raise ExportError(f"{who('encoder', components)} cannot be exported to ONNX: forward must return a "
                              f"tuple of {len(names)} tensors ({', '.join(names)}) of shape (N, {spec.z_dim}); "
                              f"got {_shapes(params)}")
        x_hat = model.decoder(params[0])
    if not (isinstance(x_hat, torch.Tensor) and tuple(x_hat.shape) == (n, *spec.input_shape)):
        raise ExportError(f"{who('decoder', components)} cannot be exported to ONNX: forward must return one "
                          f"tensor of shape (N, {', '.join(map(str, spec.input_shape))}); got {_shapes(x_hat)}")


def describe_sampler(model: Any, images: torch.Tensor, entry: dict[str, Any]) -> dict[str, Any]:
    """The ``sampler`` metadata: its name, the encoder output that is the code, and its prior."""
    sampler, spec = model.sampler, model.spec
    name = f"sampler {entry.get('name', '?')!r} (plugin {entry.get('plugin', '?')})"

    def refuse(reason: str) -> ExportError:
        return ExportError(f"{name} cannot be exported to ONNX: {reason}")

    if type(sampler).sample_prior is not Sampler.sample_prior:
        raise refuse("it overrides sample_prior, so its prior is not the diagonal Gaussian of prior() that the "
                     "torch-free runtime draws from")
    prior = sampler.prior()
    if not (isinstance(prior, dict) and all(isinstance(prior.get(k), torch.Tensor) for k in ("mean", "std"))
            and all(prior[k].numel() == spec.z_dim for k in ("mean", "std"))):
        raise refuse(f"prior() must return {{'mean', 'std'}} tensors of {spec.z_dim} values each")
    mean = prior["mean"].detach().float().cpu().reshape(-1)
    std = prior["std"].detach().float().cpu().reshape(-1)
    if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std >= 0).all()):
        raise refuse("its prior has non-finite values or a negative std")
    with torch.no_grad():
        params = model.encode(images)
        code = sampler.mean(*params.values())
    matches = [k for k, v in params.items() if v.shape == code.shape and torch.equal(v, code)]
    if not matches:
        raise refuse(f"its mean() is none of the encoder outputs ({', '.join(params)}), so the deterministic "
                     f"code cannot be read from the encoder graph")
    return {"name": entry.get("name"), "plugin": entry.get("plugin"), "class": entry.get("class"),
            "code": matches[0], "prior": {"family": PRIOR_FAMILY, "mean": mean.tolist(), "std": std.tolist()}}


def _shapes(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of " + ", ".join(
            str(tuple(v.shape)) if isinstance(v, torch.Tensor) else type(v).__name__ for v in value)
    return type(value).__name__
