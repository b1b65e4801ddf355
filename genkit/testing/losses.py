"""Is a loss a sound training objective? Minimal at a perfect reconstruction, finite at the extremes.

- ``check_loss_minimum``: for fixed encoder outputs, ``loss(x, x, params)`` is no larger than
  ``loss(x, x_hat, params)`` for reconstructions around x (random ±δ for δ of 1e-3, 1e-2 and 1e-1, and
  a step against the gradient at x_hat = x, the direction in which a loss minimal elsewhere falls) and
  strictly smaller for far ones (1 - x, a flat grey image).
- ``check_loss_extremes``: every term, and the gradients to x_hat and to the encoder outputs, stay
  finite for all-black and all-white images, reconstructions at exactly 0 and 1 (what a saturated
  sigmoid gives in float32), and encoder outputs of ±20.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch

from genkit.components import Loss, ModelSpec
from genkit.testing._asserts import check_loss_terms, failures_as_assertions, generator, name_of, require
from genkit.testing.components import DEFAULT_SPEC, build_component

# Encoder outputs this large are far outside a trained encoder's range (the prior is N(0, I)) but within
# what an untrained or diverging one produces; exp(20) ≈ 5e8 still fits float32, so a loss that
# exponentiates a log-variance must stay finite here.
EXTREME_PARAMETER = 20.0


def _loss(loss: Any, spec: ModelSpec | None, settings: dict[str, Any] | None) -> tuple[Loss, str]:
    if isinstance(loss, Loss):
        return loss, type(loss).__name__
    return build_component(loss, "loss", spec or DEFAULT_SPEC, settings), name_of(loss)


def _total(loss: Loss, x: torch.Tensor, x_hat: torch.Tensor, params: Mapping[str, torch.Tensor], who: str) -> float:
    with torch.no_grad(), failures_as_assertions(who, "the loss"):
        out = loss(x, x_hat, dict(params))
    check_loss_terms(out, loss.terms, who)
    return float(out["loss"])


def check_loss_minimum(loss: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                       images: torch.Tensor | None = None, params: Mapping[str, torch.Tensor] | None = None,
                       seed: int = 0) -> Loss:
    """The total loss is smallest at ``x_hat = x`` for fixed encoder outputs (see the module docstring)."""
    loss, who = _loss(loss, spec, settings)
    spec = loss.spec
    gen = generator(seed)
    x = images.detach().float() if images is not None else torch.rand(4, *spec.input_shape, generator=gen)
    if params is None:
        params = {name: torch.randn(len(x), spec.z_dim, generator=gen) for name in spec.parameter_names}
    params = {name: t.detach() for name, t in params.items()}
    best = _total(loss, x, x, params, who)
    # Two evaluations of a float32 loss on different inputs round differently: a few units in the last
    # place of the total, far below 1e-5 of it; the smallest perturbation raises the built-in losses by
    # 1e-6 (MSE) to 1e-3 (1000 x MSE) of their value.
    slack = 1e-5 * max(1.0, abs(best))
    x_hat = x.clone().requires_grad_()
    with failures_as_assertions(who, "the gradient of the loss at x_hat = x"):
        loss(x, x_hat, dict(params))["loss"].backward()
    grad = x_hat.grad if x_hat.grad is not None else torch.zeros_like(x)
    near = {f"x ± {delta:g} (random signs)": (x + delta * torch.randn(x.shape, generator=gen).sign()).clamp(0, 1)
            for delta in (1e-3, 1e-2, 1e-1)}
    if bool(grad.abs().max() > 0):
        near["a step of 0.01 against the gradient at x_hat = x"] = (x - 0.01 * grad / grad.abs().max()).clamp(0, 1)
    for label, x_hat in near.items():
        value = _total(loss, x, x_hat, params, who)
        require(value >= best - slack, who, f"the loss must be minimal at x_hat = x, but x_hat = {label} gives "
                                            f"{value:.6g} < {best:.6g} (loss(x, x, params))")
    for label, x_hat in {"1 - x": 1.0 - x, "a flat 0.5 image": torch.full_like(x, 0.5)}.items():
        value = _total(loss, x, x_hat, params, who)
        require(value > best + slack, who, f"a far-off reconstruction (x_hat = {label}) must cost more than a "
                                           f"perfect one; got {value:.6g}, and {best:.6g} at x_hat = x")
    return loss


def check_loss_extremes(loss: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                        seed: int = 0, batch_size: int = 2) -> Loss:
    """Terms and gradients stay finite for extreme images, reconstructions and encoder outputs."""
    loss, who = _loss(loss, spec, settings)
    spec = loss.spec
    shape = (batch_size, *spec.input_shape)
    gen = generator(seed)
    uniform = torch.rand(shape, generator=gen)
    images = {"all zeros": torch.zeros(shape), "all ones": torch.ones(shape), "uniform": uniform}
    signs = torch.ones(batch_size, spec.z_dim)
    signs[:, 1::2] = -1.0
    outputs = {f"+{EXTREME_PARAMETER:g}": EXTREME_PARAMETER * torch.ones(batch_size, spec.z_dim),
               f"-{EXTREME_PARAMETER:g}": -EXTREME_PARAMETER * torch.ones(batch_size, spec.z_dim),
               f"±{EXTREME_PARAMETER:g}": EXTREME_PARAMETER * signs}
    for (x_label, x), x_hat_label, (p_label, value) in itertools.product(
            images.items(), ("exactly 0", "exactly 1", "x", "1 - x"), outputs.items()):
        x_hat = {"exactly 0": torch.zeros(shape), "exactly 1": torch.ones(shape), "x": x.clone(),
                 "1 - x": 1.0 - x}[x_hat_label].requires_grad_()
        params = {name: value.clone().requires_grad_() for name in spec.parameter_names}
        case = f"{who} (x {x_label}, x_hat {x_hat_label}, every encoder output {p_label})"
        with failures_as_assertions(case, "the loss"):
            out = loss(x, x_hat, params)
        check_loss_terms(out, loss.terms, case)
        if out["loss"].requires_grad:
            out["loss"].backward()
        for name, t in [("x_hat", x_hat), *params.items()]:
            require(t.grad is None or bool(torch.isfinite(t.grad).all()), case,
                    f"the gradient of the loss with respect to {name} is not finite")
    return loss
