"""The built-in datasets, registered through the same entry-point hook as any third-party plugin.

Only ``"module:function"`` strings are registered here: this module is imported by every ``genkit``
command, so it must not import torch or numpy.
"""

from __future__ import annotations

from genkit.contract.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register("fashion-mnist", "genkit.data.mnist:fashion_mnist",
             "Zalando's 28×28 grayscale clothing images, 10 classes, 60000 train + 10000 test (IDX files)")
    register("mnist", "genkit.data.mnist:mnist",
             "LeCun's 28×28 grayscale handwritten digits, 60000 train + 10000 test (IDX files)")
    register("folder", "genkit.data.folder:folder_dataset",
             "a folder of PNG/JPEG images (flat or one subfolder per class), resized to the recipe",
             takes_argument=True)
    register("npz", "genkit.data.arrays:npz_dataset",
             "NumPy .npz arrays x (N, H, W[, C]) and optional y, x_test, y_test",
             takes_argument=True)
