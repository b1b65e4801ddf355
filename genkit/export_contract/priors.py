"""The prior descriptions an export's metadata carries, checked family by family (torch-free).

A sampler's prior is described, not coded: ``{"family": ..., arrays}`` as ``genkit.contract.priors``' ``describe``
writes it. ``FAMILIES`` lists the families and their fields; ``parse_prior`` checks a description
against the model's ``latent_shape`` and returns its arrays as numpy, which the runtime samples from.

=====================  ==========================================================================
family                 fields (L = latent_shape; a discrete latent point is (D, *grid))
=====================  ==========================================================================
``diagonal-gaussian``  ``mean``, ``std``: L each; std >= 0
``gaussian-mixture``   ``weights`` (K,): a distribution; ``means``, ``stds`` (K, *L); stds >= 0
``categorical``        ``codebook`` (M, D); ``logits`` (*grid, M), independent per position
                       (-inf allowed: a code that is never drawn)
``network``            ``graph`` ("prior.onnx"), ``codebook`` (M, D), ``grid``, ``codes`` (M),
                       ``autoregressive`` (bool): the graph maps codes to logits
=====================  ==========================================================================

Every number must be finite (except the categorical logits' -inf).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genkit.export_contract import GRAPH_FILES, PRIOR

FAMILIES: dict[str, tuple[str, ...]] = {
    "diagonal-gaussian": ("mean", "std"),
    "gaussian-mixture": ("weights", "means", "stds"),
    "categorical": ("codebook", "logits"),
    "network": ("graph", "codebook", "grid", "codes", "autoregressive"),
}
WEIGHT_TOLERANCE = 1e-4  # |sum(weights) - 1|: float32 weights written as JSON sum to 1 only this closely


class PriorDescriptionError(ValueError):
    """A prior description that does not fit its family or the latent shape; the message says how."""


def parse_prior(description: Any, latent_shape: tuple[int, ...]) -> dict[str, Any]:
    """The checked description with its arrays as numpy (float32; weights and logits float64)."""
    if not isinstance(description, dict) or description.get("family") not in FAMILIES:
        family = description.get("family") if isinstance(description, dict) else description
        raise PriorDescriptionError(f"the prior's family is {family!r}; the families the runtime samples are "
                                    f"{', '.join(FAMILIES)}")
    family = description["family"]
    missing = [name for name in FAMILIES[family] if name not in description]
    if missing:
        raise PriorDescriptionError(f"the {family} prior has no {', '.join(missing)}")
    return {"family": family, **_PARSERS[family](description, tuple(latent_shape))}


def _array(description: dict[str, Any], name: str, shape: tuple[int, ...] | None = None, *, ndim: int | None = None,
           allow_minus_inf: bool = False, dtype: Any = np.float32) -> np.ndarray:
    where = f"the {description['family']} prior's {name}"
    try:
        array = np.asarray(description[name])
    except ValueError:  # ragged nested lists
        raise PriorDescriptionError(f"{where} is not a rectangular array of numbers") from None
    if array.dtype.kind not in "iuf" or array.dtype == np.bool_:
        raise PriorDescriptionError(f"{where} is not an array of numbers")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise PriorDescriptionError(f"{where} has shape {tuple(array.shape)}; the latent shape asks for {tuple(shape)}")
    if ndim is not None and array.ndim != ndim:
        raise PriorDescriptionError(f"{where} must have {ndim} dimensions; it has shape {tuple(array.shape)}")
    array = array.astype(np.float64)
    bad = np.isnan(array) | (array == np.inf) | ((array == -np.inf) & (not allow_minus_inf))
    if bad.any():
        raise PriorDescriptionError(f"{where} has {'NaN or +inf' if allow_minus_inf else 'non-finite'} values")
    return array.astype(dtype)


def _non_negative(array: np.ndarray, where: str) -> np.ndarray:
    if array.size and float(array.min()) < 0:
        raise PriorDescriptionError(f"{where} has negative values ({float(array.min()):.3g})")
    return array


def _diagonal(d: dict[str, Any], latent: tuple[int, ...]) -> dict[str, Any]:
    mean = _array(d, "mean", latent)
    return {"mean": mean, "std": _non_negative(_array(d, "std", latent), "the diagonal-gaussian prior's std")}


def _mixture(d: dict[str, Any], latent: tuple[int, ...]) -> dict[str, Any]:
    weights = _non_negative(_array(d, "weights", ndim=1, dtype=np.float64), "the gaussian-mixture prior's weights")
    if not len(weights) or abs(float(weights.sum()) - 1.0) > WEIGHT_TOLERANCE:
        raise PriorDescriptionError(f"the gaussian-mixture prior's weights must be a distribution (non-negative, "
                                    f"summing to 1); they sum to {float(weights.sum()):.6g}")
    components = (len(weights), *latent)
    stds = _non_negative(_array(d, "stds", components), "the gaussian-mixture prior's stds")
    return {"weights": weights / weights.sum(), "means": _array(d, "means", components), "stds": stds}


def _codebook(d: dict[str, Any], latent: tuple[int, ...]) -> np.ndarray:
    codebook = _array(d, "codebook", ndim=2)
    if not len(codebook) or codebook.shape[1] != latent[0]:
        raise PriorDescriptionError(f"the {d['family']} prior's codebook has shape {tuple(codebook.shape)}; a latent "
                                    f"shape of {latent} asks for (M >= 1, {latent[0]})")
    return codebook


def _categorical(d: dict[str, Any], latent: tuple[int, ...]) -> dict[str, Any]:
    codebook = _codebook(d, latent)
    logits = _array(d, "logits", (*latent[1:], len(codebook)), allow_minus_inf=True, dtype=np.float64)
    if logits.size and not np.isfinite(logits.max(axis=-1)).all():
        raise PriorDescriptionError("the categorical prior's logits are -inf for every code at some position")
    return {"codebook": codebook, "logits": logits}


def _network(d: dict[str, Any], latent: tuple[int, ...]) -> dict[str, Any]:
    if d["graph"] != GRAPH_FILES[PRIOR]:
        raise PriorDescriptionError(f"the network prior's graph is {d['graph']!r}, not {GRAPH_FILES[PRIOR]!r}")
    grid = d["grid"]
    if not (isinstance(grid, list) and all(isinstance(g, int) and not isinstance(g, bool) and g > 0 for g in grid)
            and tuple(grid) == latent[1:]):
        raise PriorDescriptionError(f"the network prior's grid is {grid!r}; a latent shape of {latent} asks for "
                                    f"{list(latent[1:])}")
    codebook = _codebook(d, latent)
    if d["codes"] != len(codebook) or isinstance(d["codes"], bool):
        raise PriorDescriptionError(f"the network prior has codes {d['codes']!r} but a codebook of {len(codebook)}")
    if not isinstance(d["autoregressive"], bool):
        raise PriorDescriptionError("the network prior's autoregressive must be true or false")
    return {"codebook": codebook, "grid": tuple(grid), "codes": len(codebook), "autoregressive": d["autoregressive"],
            "positions": math.prod(grid)}


_PARSERS = {"diagonal-gaussian": _diagonal, "gaussian-mixture": _mixture, "categorical": _categorical,
            "network": _network}
