"""Precision and recall of generated images against a reference set (Kynkäänniemi et al., 2019).

Each reference point's k-th nearest reference neighbour sets the radius of a ball around it; the
union of the balls estimates the reference manifold in feature space. Precision is the share of
generated points that fall inside it (are they plausible?), recall the share of reference points
inside the generated points' own balls (is the variety covered?). Unlike the Fréchet distance, which
mixes both with the overall blur into one number, precision answers the question the VAE-versus-AE
ablation asks: do points drawn from the prior decode into images like those the model makes of real
data, or into the holes between them?
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 3
CHUNK = 1024  # rows of the distance matrix held at once: 1024 × 10,000 float64 is 80 MB


def _squared_distances(a, b):
    import torch

    # float64: cdist's matrix-product form loses digits to cancellation, and a point on a ball's edge
    # must land on the same side for a run and its ONNX export.
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return torch.cdist(a, b).pow_(2)


def kth_neighbour_radii(points: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point."""
    import torch

    radii = []
    for start in range(0, len(points), CHUNK):
        d = _squared_distances(points[start:start + CHUNK], points)
        # k + 1 smallest: the point itself is its own nearest neighbour at distance 0.
        radii.append(torch.topk(d, k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii).numpy()


def inside_share(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of ``queries`` within the radius of at least one centre."""
    import torch

    limit = torch.as_tensor(radii, dtype=torch.float64)
    inside = 0
    for start in range(0, len(queries), CHUNK):
        d = _squared_distances(queries[start:start + CHUNK], centres)
        inside += int((d <= limit).any(dim=1).sum())
    return inside / max(len(queries), 1)


def precision_recall(reference: np.ndarray, generated: np.ndarray, k: int = NEIGHBOURS) -> dict[str, float]:
    """Precision and recall of ``generated`` against ``reference`` (both (N, D) feature arrays)."""
    if min(len(reference), len(generated)) <= k:
        raise ValueError(f"precision and recall need more than {k} points in each set")
    return {"precision": inside_share(generated, reference, kth_neighbour_radii(reference, k)),
            "recall": inside_share(reference, generated, kth_neighbour_radii(generated, k))}
