"""The standard normal CDF Φ and its inverse Φ⁻¹ in numpy, without scipy.

Φ uses ``math.erfc``. Φ⁻¹ uses Acklam's rational approximation (relative error about 1e-9) followed by
one Halley step on Φ, which brings it to full double precision; the latent-grid plot and the CDF plot
need both directions to agree, or the grid's edge rows drift.
"""

from __future__ import annotations

import math

import numpy as np

_erfc = np.frompyfunc(math.erfc, 1, 1)

# Acklam's coefficients: central region (a, b) and both tails (c, d).
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
_LOW = 0.02425


def normal_cdf(x) -> np.ndarray:
    """Φ(x) elementwise, as float64; through erfc, which keeps its precision deep in the lower tail."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * np.asarray(_erfc(-x / math.sqrt(2.0)), dtype=np.float64)


def _upper_tail(x: np.ndarray) -> np.ndarray:
    """1 - Φ(x) without the cancellation of computing it as a difference."""
    return 0.5 * np.asarray(_erfc(x / math.sqrt(2.0)), dtype=np.float64)


def _poly(coefficients, x):
    out = np.zeros_like(x)
    for c in coefficients:
        out = out * x + c
    return out


def normal_ppf(p) -> np.ndarray:
    """Φ⁻¹(p) elementwise for p in (0, 1), as float64; ±inf at 0 and 1, nan outside."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    inside = (p > 0) & (p < 1)
    out[p == 0] = -np.inf
    out[p == 1] = np.inf
    q = p[inside]
    x = np.empty_like(q)
    low, high = q < _LOW, q > 1 - _LOW
    mid = ~(low | high)
    r = q[mid] - 0.5
    s = r * r
    x[mid] = _poly(_A, s) * r / (_poly(_B, s) * s + 1.0)
    t = np.sqrt(-2.0 * np.log(q[low]))
    x[low] = _poly(_C, t) / (_poly(_D, t) * t + 1.0)
    t = np.sqrt(-2.0 * np.log(1.0 - q[high]))
    x[high] = -_poly(_C, t) / (_poly(_D, t) * t + 1.0)
    # One Halley step; the error is measured on the side of 1/2 where it has no cancellation.
    error = np.where(q < 0.5, normal_cdf(x) - q, (1.0 - q) - _upper_tail(x))
    u = error * math.sqrt(2.0 * math.pi) * np.exp(x * x / 2.0)
    x = x - u / (1.0 + x * u / 2.0)
    out[inside] = x
    return out
