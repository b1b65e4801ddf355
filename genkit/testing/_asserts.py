"""What every check shares: failing with a message that names the component and the rule, seeded inputs,
and the tensor checks (shape, dtype, finiteness, the [0, 1] image range, gradients, closeness)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch


def name_of(cls: Any) -> str:
    return getattr(cls, "__name__", repr(cls))


def model_name(model: Any) -> str:
    """``recipe 'vae'`` for a model built from a recipe, else its class name."""
    recipe = getattr(getattr(model, "config", None), "recipe", None)
    return f"recipe {recipe!r}" if recipe else type(model).__name__


def require(condition: Any, who: str, rule: str) -> None:
    if not condition:
        raise AssertionError(f"{who}: {rule}")


@contextlib.contextmanager
def failures_as_assertions(who: str, what: str) -> Iterator[None]:
    """Report an exception raised while exercising a component as the broken rule, not as a crash."""
    try:
        yield
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{who}: {what} failed: {type(exc).__name__}: {exc}") from exc


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def uniform_images(input_shape: Sequence[int], n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, *input_shape, generator=generator(seed))


def check_tensor(t: Any, shape: tuple[int, ...], who: str, what: str, dtype: torch.dtype = torch.float32) -> None:
    require(isinstance(t, torch.Tensor), who, f"{what} must be a tensor; got {type(t).__name__}")
    require(tuple(t.shape) == tuple(shape), who, f"{what} must have shape {tuple(shape)}; got {tuple(t.shape)}")
    require(t.dtype == dtype, who, f"{what} must be {str(dtype).removeprefix('torch.')} for "
                                   f"{str(dtype).removeprefix('torch.')} inputs; got {t.dtype}")
    require(bool(torch.isfinite(t).all()), who, f"{what} has non-finite values")


def check_unit_range(t: torch.Tensor, who: str, what: str) -> None:
    lo, hi = float(t.detach().min()), float(t.detach().max())
    require(lo >= 0.0 and hi <= 1.0, who, f"{what} must lie in [0, 1] (end with a sigmoid); "
                                          f"got values in [{lo:.3g}, {hi:.3g}]")


def backward(t: torch.Tensor, who: str, what: str) -> None:
    require(t.requires_grad, who, f"{what} must be differentiable (it is detached from the graph)")
    t.backward()


def check_gradients(module: torch.nn.Module, who: str) -> None:
    missing = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
    require(not missing, who, f"no gradient reached {missing[:5]}: every trainable parameter must take "
                              f"part in the loss (DistributedDataParallel requires it)")
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    require(not grads or any(bool(g.abs().sum() > 0) for g in grads), who, "all gradients are zero")


def check_finite_gradients(module: torch.nn.Module, who: str, what: str) -> None:
    bad = [name for name, p in module.named_parameters()
           if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    require(not bad, who, f"{what}: the gradients of {bad[:5]} are not finite")


def check_eval_determinism(module: torch.nn.Module, call: Any, who: str, what: str) -> None:
    module.eval()
    with torch.no_grad():
        first, second = call(), call()
    pairs = zip(first, second) if isinstance(first, tuple) else [(first, second)]
    require(all(torch.equal(a, b) for a, b in pairs), who,
            f"{what} must be deterministic in eval mode (exported graphs and reconstructions rely on it)")


def check_loss_terms(out: Any, terms: Sequence[str], who: str) -> None:
    """``out`` is a dict with ``loss`` first and exactly the declared ``terms``, each a finite scalar."""
    require(isinstance(out, dict), who, f"loss must return a dict of named terms; got {type(out).__name__}")
    require(list(out)[:1] == ["loss"], who, f"the first term must be 'loss' (the total); got {list(out)}")
    require(set(out) == set(terms), who, f"returned terms {list(out)} differ from the declared terms {list(terms)}")
    for name, value in out.items():
        require(isinstance(value, torch.Tensor) and value.dim() == 0, who, f"term {name!r} must be a scalar tensor")
        require(value.is_floating_point() and bool(torch.isfinite(value)), who, f"term {name!r} is not finite")


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double().cpu() - b.detach().double().cpu()).abs().max()) if a.numel() else 0.0


def require_close(actual: torch.Tensor, expected: torch.Tensor, who: str, what: str, *, atol: float,
                  rtol: float = 0.0) -> None:
    """``|actual - expected| <= atol + rtol * |expected|`` element-wise; ``atol = rtol = 0`` asks for equality."""
    require(tuple(actual.shape) == tuple(expected.shape), who,
            f"{what}: shape {tuple(actual.shape)} differs from {tuple(expected.shape)}")
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    if atol == 0.0 and rtol == 0.0:
        ok = torch.equal(a, e)
    else:
        ok = bool(((a - e).abs() <= atol + rtol * e.abs()).all())
    bound = "exactly" if atol == 0.0 and rtol == 0.0 else f"within {atol:g}" + (f" + {rtol:g}·|value|" if rtol else "")
    require(ok, who, f"{what} must match {bound}; largest difference {max_difference(a, e):.3g}")


def require_equal_states(actual: torch.nn.Module, expected: torch.nn.Module, who: str, what: str) -> None:
    """The two modules' state_dicts have the same keys, and each tensor is equal with its dtype."""
    a, e = actual.state_dict(), expected.state_dict()
    require(list(a) == list(e), who, f"{what}: state_dict keys differ (only in one: "
                                     f"{sorted(set(a) ^ set(e))[:5]})")
    for key, value in e.items():
        got = a[key]
        require(got.dtype == value.dtype and tuple(got.shape) == tuple(value.shape), who,
                f"{what}: {key} is {got.dtype} {tuple(got.shape)}, not {value.dtype} {tuple(value.shape)}")
        require(torch.equal(got.cpu(), value.cpu()), who,
                f"{what}: {key} differs (largest difference {max_difference(got, value):.3g})")
