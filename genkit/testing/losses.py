"""Is a loss a sound training objective? Its contract, minimal at a perfect reconstruction, finite at the extremes.

A loss sees a whole forward pass, ``loss(x, out)`` with ``out`` a ``ModelOutput``: the reconstruction, the encoder
outputs, z and the sampler's extras, the labels of a conditional model and the prior. The checks make one from
random encoder outputs (z = the first of them, no extras, the prior N(0, I)); a loss that reads a particular
sampler's z, extras or prior is checked with that sampler (``sampler=``: its forward gives z and the extras, its
``prior()`` the prior), as the model would run them. A sampler drawing K points per image gives K·N rows of z,
and the reconstructions have K·N rows too.

- ``check_loss``: ``loss`` first, exactly the declared ``terms`` as finite scalars, a differentiable total that
  depends on ``x_hat``; a loss with ``needs_reconstruction = False`` gets ``x_hat = None`` (the model skips the
  decoder for it) and must reach something it trains.
- ``check_loss_minimum``: for a fixed pass, ``loss(x, x)`` is no larger than ``loss(x, x_hat)`` for
  reconstructions around x (random ±δ for δ of 1e-3, 1e-2 and 1e-1, and a step against the gradient at x_hat = x,
  the direction in which a loss minimal elsewhere falls) and strictly smaller for far ones (1 - x, a flat grey
  image). For a loss that does not look at the reconstruction: that it works without one.
- ``check_loss_extremes``: every term, and the gradients to x_hat and to the encoder outputs, stay finite for
  all-black and all-white images, reconstructions at exactly 0 and 1 (what a saturated sigmoid gives in float32),
  and encoder outputs of ±20.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import torch

from genkit.contract.components import Loss, ModelOutput, ModelSpec, Sampler, standard_normal_prior
from genkit.testing._asserts import (
    backward,
    check_loss_terms,
    failures_as_assertions,
    generator,
    name_of,
    require,
)
from genkit.testing.inputs import (
    DEFAULT_SPEC,
    build_component,
    check_latent_rows,
    labels_for,
    random_params,
    split_draw,
)

# Encoder outputs this large are far outside a trained encoder's range (the prior is N(0, I)) but within
# what an untrained or diverging one produces; exp(20) ≈ 5e8 still fits float32, so a loss that
# exponentiates a log-variance must stay finite here.
EXTREME_PARAMETER = 20.0
SAMPLER_HINT = ("; a loss that reads a sampler's extras or prior is checked with that sampler "
                "(check_loss(..., sampler=...), LossConformance.sampler_class)")


@dataclasses.dataclass
class Pass:
    """A forward pass as the loss sees it, but for the reconstruction, which the checks vary."""

    params: dict[str, torch.Tensor]
    z: torch.Tensor
    extras: dict[str, torch.Tensor]
    labels: torch.Tensor | None
    prior: Any

    def output(self, x_hat: torch.Tensor | None) -> ModelOutput:
        return ModelOutput(x_hat, self.params, self.z, self.extras, self.labels, self.prior)


def make_pass(spec: ModelSpec, n: int, seed: int, who: str, *, sampler: Sampler | None = None,
              params: Mapping[str, torch.Tensor] | None = None, grad: bool = False) -> Pass:
    """A pass of ``n`` images: ``params`` (default: random) through ``sampler`` (default: z = the first of them)."""
    if params is None:
        params = dict(zip(spec.parameter_names, random_params(spec, n, seed)))
    params = {name: t.detach().clone().requires_grad_(grad) for name, t in params.items()}
    labels = labels_for(spec, n)
    if sampler is None:
        z = next(iter(params.values()))
        check_latent_rows(z, spec, n, who, "the first encoder output (z when no sampler is given)")
        return Pass(params, z, {}, labels, standard_normal_prior(spec, z))
    with failures_as_assertions(who, "the sampler's forward"):
        z, extras = split_draw(sampler(*params.values(), generator=generator(seed)), who, "the sampler's forward")
        prior = sampler.prior()
    check_latent_rows(z, spec, n, who, "the sampler's z")
    return Pass(params, z, extras, labels, prior)


def _repeat(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` (N, ...) repeated to ``rows`` = K·N rows, as K draws per image are laid out."""
    return x.repeat(rows // len(x), *([1] * (x.dim() - 1)))


def _loss(loss: Any, spec: ModelSpec | None, settings: dict[str, Any] | None, sampler: Any,
          sampler_settings: dict[str, Any] | None) -> tuple[Loss, str, Sampler | None]:
    """The loss and the sampler, built (when given as classes) for one spec whose encoder outputs the sampler's."""
    base = loss.spec if isinstance(loss, Loss) else (spec or DEFAULT_SPEC)
    if isinstance(sampler, Sampler):
        base = base if isinstance(loss, Loss) else sampler.spec
    elif sampler is not None:
        base = dataclasses.replace(base, parameter_names=tuple(getattr(sampler, "parameter_names", ())))
        sampler = build_component(sampler, "sampler", base, sampler_settings)
    if isinstance(loss, Loss):
        return loss, type(loss).__name__, sampler
    return build_component(loss, "loss", base, settings), name_of(loss), sampler


def _call(loss: Loss, x: torch.Tensor, out: ModelOutput, who: str, what: str = "the loss") -> dict[str, torch.Tensor]:
    try:
        result = loss(x, out)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{who}: {what} failed: {type(exc).__name__}: {exc}{SAMPLER_HINT}") from exc
    check_loss_terms(result, loss.terms, who)
    return result


def check_loss(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
               batch_size: int = 2, seed: int = 0, *, sampler: Any = None,
               sampler_settings: dict[str, Any] | None = None) -> Loss:
    """``loss`` first, exactly the declared ``terms`` as finite scalars, and a gradient to ``x_hat``."""
    who = name_of(cls)
    terms = getattr(cls, "terms", ())
    require(isinstance(terms, tuple) and terms[:1] == ("loss",) and len(set(terms)) == len(terms), who,
            f"terms must be a tuple of distinct names starting with 'loss'; got {terms!r}")
    batch_terms, needs = getattr(cls, "batch_terms", ()), getattr(cls, "needs_extras", ())
    require(isinstance(batch_terms, tuple) and set(batch_terms) <= set(terms), who,
            f"batch_terms must name terms of the loss ({', '.join(terms)}); got {batch_terms!r}")
    require(isinstance(needs, tuple) and all(isinstance(n, str) and n for n in needs), who,
            f"needs_extras must be a tuple of the names of sampler extras; got {needs!r}")
    loss, who, sampler = _loss(cls, spec, settings, sampler, sampler_settings)
    if sampler is not None:
        missing = [name for name in needs if name not in sampler.extras]
        require(not missing, who, f"needs the sampler extras {missing}, which {type(sampler).__name__} does not "
                                  f"give (its extras: {list(sampler.extras)})")
    spec = loss.spec
    gen = generator(seed)
    x = torch.rand(batch_size, *spec.input_shape, generator=gen)
    p = make_pass(spec, batch_size, seed, who, sampler=sampler, grad=True)
    x_hat = torch.rand((len(p.z), *spec.input_shape), generator=gen).requires_grad_() \
        if loss.needs_reconstruction else None  # same generator: differs from x
    out = _call(loss, x, p.output(x_hat), who)
    backward(out["loss"], who, "the total 'loss'")
    if x_hat is not None:
        require(x_hat.grad is not None and bool(x_hat.grad.abs().sum() > 0), who,
                "the total 'loss' must depend on the reconstruction x_hat")
        return loss
    reached = [t.grad for t in p.params.values()] + [q.grad for q in loss.parameters()]
    reached += [q.grad for q in sampler.parameters()] if sampler is not None else []
    require(any(g is not None and bool(g.abs().sum() > 0) for g in reached), who,
            "the total 'loss' (needs_reconstruction = False) must depend on something it trains: the encoder "
            "outputs, z, or the parameters of the loss or the sampler (its prior)")
    return loss


def check_loss_minimum(loss: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                       images: torch.Tensor | None = None, params: Mapping[str, torch.Tensor] | None = None,
                       sampler: Any = None, sampler_settings: dict[str, Any] | None = None, seed: int = 0) -> Loss:
    """The total loss is smallest at ``x_hat = x`` for a fixed pass (see the module docstring)."""
    loss, who, sampler = _loss(loss, spec, settings, sampler, sampler_settings)
    spec = loss.spec
    gen = generator(seed)
    x = images.detach().float() if images is not None else torch.rand(4, *spec.input_shape, generator=gen)
    with torch.no_grad():
        p = make_pass(spec, len(x), seed, who, sampler=sampler, params=params)
    if not loss.needs_reconstruction:
        # the model does not decode for this loss: it must work without a reconstruction
        with torch.no_grad():
            _call(loss, x, p.output(None), who, "the loss without a reconstruction (needs_reconstruction = False)")
        return loss
    target = _repeat(x, len(p.z))

    def total(x_hat: torch.Tensor) -> float:
        with torch.no_grad():
            return float(_call(loss, x, p.output(x_hat), who)["loss"])

    best = total(target)
    # Two evaluations of a float32 loss on different inputs round differently: a few units in the last
    # place of the total, far below 1e-5 of it; the smallest perturbation raises the built-in losses by
    # 1e-6 (MSE) to 1e-3 (1000 x MSE) of their value.
    slack = 1e-5 * max(1.0, abs(best))
    x_hat = target.clone().requires_grad_()
    with failures_as_assertions(who, "the gradient of the loss at x_hat = x"):
        loss(x, p.output(x_hat))["loss"].backward()
    grad = x_hat.grad if x_hat.grad is not None else torch.zeros_like(target)
    near = {f"x ± {delta:g} (random signs)": (target + delta * torch.randn(target.shape, generator=gen).sign())
            .clamp(0, 1) for delta in (1e-3, 1e-2, 1e-1)}
    if bool(grad.abs().max() > 0):
        near["a step of 0.01 against the gradient at x_hat = x"] = (target - 0.01 * grad / grad.abs().max()).clamp(0, 1)
    for label, candidate in near.items():
        value = total(candidate)
        require(value >= best - slack, who, f"the loss must be minimal at x_hat = x, but x_hat = {label} gives "
                                            f"{value:.6g} < {best:.6g} (loss at x_hat = x)")
    for label, candidate in {"1 - x": 1.0 - target, "a flat 0.5 image": torch.full_like(target, 0.5)}.items():
        value = total(candidate)
        require(value > best + slack, who, f"a far-off reconstruction (x_hat = {label}) must cost more than a "
                                           f"perfect one; got {value:.6g}, and {best:.6g} at x_hat = x")
    return loss


def check_loss_extremes(loss: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                        sampler: Any = None, sampler_settings: dict[str, Any] | None = None, seed: int = 0,
                        batch_size: int = 2, losses: dict[str, Any] | None = None) -> Loss:
    """Terms and gradients stay finite for extreme images, reconstructions and encoder outputs. ``losses`` are
    the players' losses a player's loss reads (``ModelOutput.losses``; a model's ``player_loss_map()``)."""
    loss, who, sampler = _loss(loss, spec, settings, sampler, sampler_settings)
    spec = loss.spec
    shape = (batch_size, *spec.input_shape)
    uniform = torch.rand(shape, generator=generator(seed))
    images = {"all zeros": torch.zeros(shape), "all ones": torch.ones(shape), "uniform": uniform}
    shapes = [t.shape for t in random_params(spec, batch_size, seed)]
    signs = [torch.ones(s).flatten(1) for s in shapes]
    for s in signs:
        s[:, 1::2] = -1.0
    outputs = {f"+{EXTREME_PARAMETER:g}": [EXTREME_PARAMETER * torch.ones(s) for s in shapes],
               f"-{EXTREME_PARAMETER:g}": [-EXTREME_PARAMETER * torch.ones(s) for s in shapes],
               f"±{EXTREME_PARAMETER:g}": [EXTREME_PARAMETER * sign.reshape(s) for sign, s in zip(signs, shapes)]}
    for (x_label, x), x_hat_label, (p_label, values) in itertools.product(
            images.items(), ("exactly 0", "exactly 1", "x", "1 - x"), outputs.items()):
        case = f"{who} (x {x_label}, x_hat {x_hat_label}, every encoder output {p_label})"
        p = make_pass(spec, batch_size, seed, case, sampler=sampler, grad=True,
                      params=dict(zip(spec.parameter_names, values)))
        target = _repeat(x, len(p.z))
        x_hat = None
        if loss.needs_reconstruction:
            x_hat = {"exactly 0": torch.zeros_like(target), "exactly 1": torch.ones_like(target), "x": target.clone(),
                     "1 - x": 1.0 - target}[x_hat_label].requires_grad_()
        passed = p.output(x_hat)
        passed.losses = dict(losses or {})
        out = _call(loss, x, passed, case)
        if out["loss"].requires_grad:
            out["loss"].backward()
        for name, t in [("x_hat", x_hat), *p.params.items()]:
            require(t is None or t.grad is None or bool(torch.isfinite(t.grad).all()), case,
                    f"the gradient of the loss with respect to {name} is not finite")
    return loss
