"""The CUDA variants of the recipe tests, skipped (with the reason) where ``torch.cuda.is_available()``
is false, so that a machine without a GPU never reports them as passed."""

from __future__ import annotations

import pytest
import torch

from genkit.testing.devices import check_device_move
from genkit.testing.mixins import RecipeConformance
from genkit.testing.precision import check_autocast

NO_CUDA = "needs a CUDA device, and torch.cuda.is_available() is False here: this check did not run"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)


class CudaRecipeConformance(RecipeConformance):
    """``RecipeConformance`` plus the same checks on a GPU: fp16 autocast and a CPU -> CUDA -> CPU move."""

    @requires_cuda
    def test_fp16_autocast_on_cuda(self):
        """CUDA fp16 autocast: outputs within 2 % of float32's scale; finite terms and gradients."""
        model, x = self._model_and_images(4)
        check_autocast(model, "cuda", torch.float16, x, seed=self.seed)

    @requires_cuda
    def test_move_to_cuda(self):
        """CPU -> CUDA -> CPU with seeded CPU and CUDA generators (1e-4 of the output's scale; TF32 off)."""
        model, x = self._model_and_images(3)
        check_device_move(model, "cuda", x, seed=self.seed)
