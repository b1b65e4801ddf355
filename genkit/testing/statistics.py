"""One-sample tests of draws against a declared distribution, with a stated false-alarm rate.

**Gaussian moments.** For n draws of one dimension that should follow N(μ, σ²), σ > 0:

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

**Frequencies** (categorical codes, mixture components, binned probability-integral transforms): Pearson's
``χ² = Σ (O - E)² / E`` over the categories of one group (say, one grid position), with the exact χ²(cells - 1)
tail from ``torch.special.gammaincc``. Categories expected fewer than ``MIN_EXPECTED`` = 20 times are pooled
(the smallest first), four times the textbook minimum of 5, because the checks use the far tail, where Pearson's
statistic needs larger counts to follow χ² (``tests/conformance/test_statistics.py`` checks the level at 0.05); a
category drawn although its probability is 0 rejects outright. Groups are Bonferroni-corrected like dimensions.

**Means** of bounded statistics (a mixture's component responsibilities): ``(x̄ - μ) / (s / √n)`` against
N(0, 1), two-sided, Bonferroni-corrected; with n = 20,000 the t and normal tails agree to within 1 %.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import torch

DEFAULT_FALSE_ALARM = 1e-6
MIN_EXPECTED = 20.0


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


@dataclasses.dataclass(frozen=True)
class FrequencyTest:
    """Per-group χ² statistics, degrees of freedom and tail probabilities of observed against expected counts."""

    counts: torch.Tensor  # (G, B) float64
    expected: torch.Tensor  # (G, B) float64
    chi2: torch.Tensor  # (G,)
    dof: torch.Tensor  # (G,)
    p: torch.Tensor  # (G,)
    level: float  # per-group level: false_alarm / G
    false_alarm: float

    @property
    def rejected(self) -> bool:
        return bool((self.p < self.level).any())

    def describe(self, group: str = "group", cell: str = "category") -> str:
        """The worst group and, in it, the category furthest from its expected count."""
        g = int(self.p.argmin())
        o, e = self.counts[g], self.expected[g]
        residual = torch.where(e > 0, (o - e).abs() / e.clamp_min(1e-300).sqrt(), torch.where(o > 0, math.inf, 0.0))
        c = int(residual.argmax())
        where = f"{group} {g}: " if len(self.p) > 1 else ""
        return (f"{where}{cell} {c} drawn {int(o[c])} times where {float(e[c]):.1f} ± {math.sqrt(float(e[c])):.1f} "
                f"are expected (χ² = {float(self.chi2[g]):.1f} on {int(self.dof[g])} degrees of freedom, tail "
                f"{float(self.p[g]):.2g} below the level {self.level:.2g}: {len(self.p)} test(s), overall false-alarm "
                f"rate {self.false_alarm:g})")


def _pooled_chi2(o: torch.Tensor, e: torch.Tensor) -> tuple[float, int]:
    """χ² and its degrees of freedom after pooling the rarest categories to ``MIN_EXPECTED``."""
    order = torch.argsort(e)
    pooled_o = pooled_e = 0.0
    cells: list[tuple[float, float]] = []
    for i in order.tolist():
        if pooled_e < MIN_EXPECTED:
            pooled_o, pooled_e = pooled_o + float(o[i]), pooled_e + float(e[i])
        else:
            cells.append((float(o[i]), float(e[i])))
    cells.append((pooled_o, pooled_e))
    chi2 = sum((oi - ei) ** 2 / ei for oi, ei in cells if ei > 0)
    return chi2, len(cells) - 1


def frequency_test(counts: torch.Tensor, probs: torch.Tensor, false_alarm: float = DEFAULT_FALSE_ALARM
                   ) -> FrequencyTest:
    """Test each row of ``counts`` (G, B) against the category probabilities in the same row of ``probs``."""
    o = torch.as_tensor(counts).detach().double().cpu().reshape(-1, counts.shape[-1])
    p = torch.as_tensor(probs).detach().double().cpu().reshape(-1, probs.shape[-1]).expand_as(o)
    e = o.sum(dim=1, keepdim=True) * p / p.sum(dim=1, keepdim=True)
    chi2, dof, tail = [], [], []
    for row_o, row_e in zip(o, e):
        value, df = _pooled_chi2(row_o, row_e)
        impossible = bool(((row_e == 0) & (row_o > 0)).any())
        chi2.append(math.inf if impossible else value)
        dof.append(df)
        if impossible:
            tail.append(0.0)
        elif df == 0:
            tail.append(1.0)  # everything pooled into one category: nothing to test
        else:
            tail.append(float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                                      torch.tensor(value / 2, dtype=torch.float64))))
    groups = len(o)
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"need 0 < false_alarm < 1; got {false_alarm}")
    return FrequencyTest(o, e, torch.tensor(chi2, dtype=torch.float64), torch.tensor(dof), torch.tensor(tail),
                         false_alarm / groups, false_alarm)


def check_frequencies(counts: torch.Tensor, probs: torch.Tensor, who: str, what: str,
                      false_alarm: float = DEFAULT_FALSE_ALARM, group: str = "group",
                      cell: str = "category") -> FrequencyTest:
    """Raise ``AssertionError`` when ``counts`` reject the declared category probabilities ``probs``."""
    result = frequency_test(counts, probs, false_alarm)
    if result.rejected:
        raise AssertionError(f"{who}: {what} do not follow the declared probabilities: {result.describe(group, cell)}")
    return result


def check_uniform(u: torch.Tensor, who: str, what: str, false_alarm: float = DEFAULT_FALSE_ALARM,
                  bins: int = 20, group: str = "dimension") -> FrequencyTest:
    """Values ``u`` (G, n) in [0, 1] are uniform in each row: a χ² test of ``bins`` equal bins per row."""
    u = torch.as_tensor(u).detach().double().cpu()
    u = u.reshape(1, -1) if u.dim() == 1 else u
    index = (u * bins).floor().clamp(0, bins - 1).long()
    counts = torch.zeros(len(u), bins, dtype=torch.float64).scatter_add_(1, index, torch.ones_like(u))
    result = frequency_test(counts, torch.full((1, bins), 1.0 / bins, dtype=torch.float64), false_alarm)
    if result.rejected:
        raise AssertionError(f"{who}: {what} are not uniform in [0, 1] over {bins} bins (probability-integral "
                             f"transforms of draws from the declared distribution are): "
                             f"{result.describe(group, 'bin')}")
    return result


def check_means(samples: torch.Tensor, expected: torch.Tensor, who: str, what: str,
                false_alarm: float = DEFAULT_FALSE_ALARM, label: str = "column") -> None:
    """The mean of each column of ``samples`` (n, d) equals ``expected`` (d,) by a z-test with the sample std."""
    x = samples.detach().double().cpu().reshape(samples.shape[0], -1)
    expected = torch.as_tensor(expected).detach().double().cpu().reshape(-1)
    n = x.shape[0]
    spread = x.std(dim=0, correction=1)
    # the standard error's floor is float32 rounding (1e-7): a column that is constant up to rounding (identical
    # mixture components, say) must equal its expectation to that precision, not to the last bit of float64
    z = (x.mean(dim=0) - expected) / (spread / math.sqrt(n)).clamp_min(1e-7)
    threshold = two_sided_threshold(false_alarm, x.shape[1])
    i = int(z.abs().argmax())
    if abs(float(z[i])) > threshold:
        raise AssertionError(f"{who}: {what}: {label} {i} has mean {float(x[:, i].mean()):.4g} against "
                             f"{float(expected[i]):.4g} (z = {float(z[i]):.1f}; |z| above {threshold:.2f} is rejected, "
                             f"{x.shape[1]} tests of {n} draws, overall false-alarm rate {false_alarm:g})")
