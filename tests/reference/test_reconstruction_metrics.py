"""The evaluation's reconstruction measures against torch and the definitions: per-image MSE, PSNR,
mean and spread, and the per-class breakdown."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genkit.evaluation.reconstruction import mean_std, per_class, per_image_mse, psnr
from genkit_plugins.vae.loss import per_image_mse as training_per_image_mse


def _images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (count, 3, 4, 6)).astype(np.float32)
    return x, np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("count", [1, 3, 17])
def test_per_image_mse_matches_torch_and_the_training_loss(count):
    x, x_hat = _images(count, seed=count)
    expected = F.mse_loss(torch.from_numpy(x_hat).double(), torch.from_numpy(x).double(), reduction="none")
    expected = expected.flatten(1).mean(dim=1).numpy()
    got = per_image_mse(x, x_hat)
    assert got.shape == (count,)
    np.testing.assert_allclose(got, expected, rtol=1e-12)  # both float64 means of 72 terms
    # The training loss's float32 version: same numbers to float32 accuracy.
    training = training_per_image_mse(torch.from_numpy(x), torch.from_numpy(x_hat)).numpy()
    np.testing.assert_allclose(training, expected, rtol=1e-5)


def test_psnr_is_ten_log10_of_the_inverse_mse_with_a_100_db_cap():
    mse = np.array([0.5, 0.01, 1e-3, 3.7e-5, 1.0, 2.0, 1e-12, 0.0])
    expected = [10.0 * math.log10(1.0 / max(m, 1e-10)) for m in mse]
    np.testing.assert_allclose(psnr(mse), expected, rtol=1e-12, atol=1e-12)
    assert psnr(np.array([0.01]))[0] == pytest.approx(20.0, rel=1e-12)  # 1% error: 20 dB
    assert psnr(np.array([0.0]))[0] == pytest.approx(100.0, rel=1e-12)


def test_mean_std_is_the_mean_and_population_std():
    values = np.random.default_rng(0).normal(3.0, 2.0, 7)
    got = mean_std(values)
    mean = sum(values) / len(values)
    assert got["mean"] == pytest.approx(mean, rel=1e-12)
    assert got["std"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), rel=1e-12)


def test_per_class_groups_each_images_terms_by_its_label():
    rng = np.random.default_rng(1)
    labels = np.array([2, 0, 2, 2, 0, 3, 2, 0, 3, 2, 2])  # class 1 has no image
    mse = rng.uniform(0, 0.1, len(labels))
    terms = {"loss": rng.uniform(10, 50, len(labels)), "kl": rng.uniform(0, 20, len(labels))}
    got = per_class(terms, mse, labels, ["a", "b", "c", "d"])
    assert list(got) == ["a", "c", "d"]
    for index, name in enumerate(["a", "b", "c", "d"]):
        chosen = [i for i, y in enumerate(labels) if y == index]
        if not chosen:
            continue
        entry = got[name]
        assert entry["images"] == len(chosen)
        for key, values in [("reconstruction_mse", mse), ("loss", terms["loss"]), ("kl", terms["kl"])]:
            picked = [values[i] for i in chosen]
            assert entry[key]["mean"] == pytest.approx(np.mean(picked), rel=1e-12), (name, key)
            assert entry[key]["std"] == pytest.approx(np.std(picked), rel=1e-12, abs=1e-15), (name, key)
