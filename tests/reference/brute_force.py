"""Brute-force precision and recall (Kynkäänniemi et al., 2019) in plain Python loops, for small sets.

``count_self`` and ``strict`` switch to the conventions the paper does not use (the point itself as
one of its k neighbours, ``<`` for the ball's edge), so tests can check that their data tells them apart.
"""

from __future__ import annotations

import numpy as np


def _squared(a: np.ndarray, b: np.ndarray) -> float:
    return float(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def reference_radii(points: np.ndarray, k: int, count_self: bool = False) -> np.ndarray:
    radii = []
    for i, p in enumerate(points):
        others = sorted(_squared(p, q) for j, q in enumerate(points) if j != i or count_self)
        radii.append(others[k - 1])
    return np.array(radii)


def reference_share(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray, strict: bool = False) -> float:
    inside = 0
    for q in queries:
        for c, r in zip(centres, radii):
            d = _squared(q, c)
            if d < r or (d == r and not strict):
                inside += 1
                break
    return inside / len(queries)


def reference_precision_recall(reference: np.ndarray, generated: np.ndarray, k: int, count_self: bool = False,
                               strict: bool = False) -> dict[str, float]:
    return {"precision": reference_share(generated, reference, reference_radii(reference, k, count_self), strict),
            "recall": reference_share(reference, generated, reference_radii(generated, k, count_self), strict)}
