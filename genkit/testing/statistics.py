"""One-sample tests of draws against a declared diagonal Gaussian, with a stated false-alarm rate.

For n draws of one dimension that should follow N(μ, σ²), σ > 0:

- **mean**: ``z = (x̄ - μ) / (σ / √n)`` is exactly N(0, 1) for Gaussian draws.
- **variance**: with ``k = n - 1`` and ``s²`` the unbiased sample variance, ``k·s²/σ²`` is χ²(k) for
  Gaussian draws. The Wilson-Hilferty transform ``z = ((s²/σ²)^(1/3) - (1 - 2/(9k))) / √(2/(9k))``
  turns it into N(0, 1). At the thresholds used here (|z| of 5 to 6) and k = 19,999 (20,000 draws) its
  tails are within 0.2 % of the exact χ² tails and never above them, so the stated rate is an upper
  bound (``tests/conformance/test_statistics.py`` compares them with ``torch.special.gammaincc``).

Both tests are two-sided. A check over d dimensions runs 2d tests; Bonferroni gives each the level
``false_alarm / (2d)``, so the probability that draws from the declared distribution fail the whole
check is at most ``false_alarm`` (1e-6 by default). The checks use fixed seeds, so a given sampler
either always passes or always fails; the rate is the chance that a correct sampler's seed is unlucky.

What the default 20,000 draws detect: for 1 to 200 dimensions the threshold is |z| > 5.0 to 6.0, so
a mean off by 0.036 to 0.042 σ, or a standard deviation off by 2.5 to 3 %, in any one dimension. The
usual mistakes (a standard deviation taken for a variance, ``exp(log_var)`` for ``exp(log_var / 2)``,
noise that is not unit-variance) are off by tens of percent.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import torch

DEFAULT_FALSE_ALARM = 1e-6


def two_sided_threshold(false_alarm: float, tests: int) -> float:
    """The |z| above which one of ``tests`` two-sided normal tests rejects, Bonferroni-corrected.

    The overall false-alarm rate of the ``tests`` tests together is at most ``false_alarm``.
    """
    if not 0.0 < false_alarm < 1.0 or tests < 1:
        raise ValueError(f"need 0 < false_alarm < 1 and tests >= 1; got {false_alarm}, {tests}")
    return NormalDist().inv_cdf(1.0 - false_alarm / (2.0 * tests))


@dataclasses.dataclass(frozen=True)
class MomentTest:
    """Per-dimension z statistics of the mean and variance tests, and the threshold they are held to."""

    mean_z: torch.Tensor  # (d,) float64
    var_z: torch.Tensor  # (d,) float64
    sample_mean: torch.Tensor
    sample_std: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    n: int
    threshold: float
    false_alarm: float

    @property
    def rejected(self) -> bool:
        return bool((self.mean_z.abs() > self.threshold).any() or (self.var_z.abs() > self.threshold).any())

    def describe(self) -> str:
        """The worst dimension of each test, for an assertion message."""
        parts = []
        for label, z in (("mean", self.mean_z), ("variance", self.var_z)):
            i = int(z.abs().argmax())
            if abs(float(z[i])) > self.threshold:
                got = self.sample_mean[i] if label == "mean" else self.sample_std[i]
                want = self.mean[i] if label == "mean" else self.std[i]
                what = "mean" if label == "mean" else "std"
                parts.append(f"dimension {i}: sample {what} {float(got):.4g} against {float(want):.4g} "
                             f"(z = {float(z[i]):.1f})")
        tests = 2 * self.mean_z.numel()
        return (f"{'; '.join(parts) or 'no dimension rejected'} — |z| above {self.threshold:.2f} is rejected "
                f"({tests} tests of {self.n} draws, overall false-alarm rate {self.false_alarm:g})")


def gaussian_moment_test(samples: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                         false_alarm: float = DEFAULT_FALSE_ALARM) -> MomentTest:
    """Test each column of ``samples`` (n, d) against N(mean[j], std[j]²); see the module docstring."""
    x = samples.detach().double().cpu().reshape(samples.shape[0], -1)
    mean = torch.as_tensor(mean).detach().double().cpu().reshape(-1).expand(x.shape[1])
    std = torch.as_tensor(std).detach().double().cpu().reshape(-1).expand(x.shape[1])
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 draws; got {n}")
    if not bool((std > 0).all()):
        raise ValueError("every declared std must be positive (test a point mass by equality instead)")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("the draws hold non-finite values")
    k = n - 1
    sample_mean = x.mean(dim=0)
    sample_var = x.var(dim=0, correction=1)
    mean_z = (sample_mean - mean) / (std / math.sqrt(n))
    ratio = sample_var / std.square()
    spread = 2.0 / (9.0 * k)
    var_z = (ratio.pow(1.0 / 3.0) - (1.0 - spread)) / math.sqrt(spread)
    threshold = two_sided_threshold(false_alarm, 2 * x.shape[1])
    return MomentTest(mean_z, var_z, sample_mean, sample_var.sqrt(), mean, std, n, threshold, false_alarm)


def check_gaussian_moments(samples: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, who: str, what: str,
                           false_alarm: float = DEFAULT_FALSE_ALARM) -> MomentTest:
    """Raise ``AssertionError`` when ``samples`` reject N(mean, std²) at the overall rate ``false_alarm``."""
    if not bool(torch.isfinite(samples).all()):
        raise AssertionError(f"{who}: {what} hold non-finite values")
    result = gaussian_moment_test(samples, mean, std, false_alarm)
    if result.rejected:
        raise AssertionError(f"{who}: {what} do not follow the declared Gaussian: {result.describe()}")
    return result
