"""Folders of generated 128x128 RGB PNGs standing in for CelebA, cached in the temporary directory.

The images are smooth random colour fields (a coarse grid resized up), so that decoding and resizing
cost what real photos cost. They are made once into a pool; a folder of N images is ``train/`` with
hard links to the first N of the pool plus a fixed ``test/`` split, so growing a folder adds files
without writing the old ones again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

SIZE = 128
TEST_IMAGES = 256


def cache_root() -> Path:
    return Path(tempfile.gettempdir()) / "genkit-benchmarks" / "faces"


def _make(path: Path, rng: np.random.Generator) -> None:
    from PIL import Image

    coarse = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(coarse, "RGB").resize((SIZE, SIZE), Image.BILINEAR)
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)  # a run killed mid-write leaves no truncated PNG in the pool


def pool(count: int, name: str = "pool", log=None) -> list[Path]:
    """The first ``count`` images of the named pool, making the missing ones."""
    folder = cache_root() / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:06d}.png" for i in range(count)]
    missing = [p for p in paths if not p.is_file()]
    if missing and log:
        log(f"  generating {len(missing)} PNGs of {SIZE}x{SIZE} into {folder} (cached for later runs)")
    for p in missing:
        _make(p, np.random.default_rng(int(p.stem) + (0 if name == "pool" else 10 ** 7)))
    return paths


def faces_folder(train: int, log=None) -> Path:
    """``folder:`` data of ``train`` training images and ``TEST_IMAGES`` test images."""
    root = cache_root() / f"faces-{train}"
    test_dir, train_dir = root / "test", root / "train"
    for directory, sources in ((train_dir, pool(train, log=log)), (test_dir, pool(TEST_IMAGES, "test", log))):
        directory.mkdir(parents=True, exist_ok=True)
        for source in sources:
            link = directory / source.name
            if not link.exists():
                try:
                    os.link(source, link)
                except OSError:  # a file system without hard links: a copy
                    link.write_bytes(source.read_bytes())
    return root
