"""``genkit plot``: every kind renders a real, non-blank PNG; every bad option is one clear line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genkit.plots import KINDS, render
from genkit.plots.context import PlotContext

from .conftest import check_png, invoke

KIND_OPTIONS = {"attribute": {"positive": "1", "negative": "0"}, "latent-scatter": {"prior": True}}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_from_a_trained_vae(kind, vae_source):
    check_png(render(kind, PlotContext(vae_source, options=dict(KIND_OPTIONS.get(kind, {})))))


@pytest.mark.parametrize("kind", ["samples", "latent-grid", "latent-histograms"])
def test_autoencoder_plots_render(kind, ae_source):
    check_png(render(kind, PlotContext(ae_source, options={"k": 2} if kind == "latent-histograms" else {})))


def test_the_command_writes_the_png(vae_run, tmp_path):
    out = tmp_path / "grid.png"
    code, output = invoke("plot", vae_run, "latent-grid", "--size", "6", "--dims", "1,0", "-o", out)
    assert code == 0, output
    check_png(out.read_bytes())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_export_plots_too_but_has_no_loss_curves(vae_export, tmp_path):
    code, output = invoke("plot", vae_export, "samples", "--count", "9", "-o", tmp_path / "s.png")
    assert code == 0, output
    check_png((tmp_path / "s.png").read_bytes(), min_width=200)
    code, output = invoke("plot", vae_export, "loss-curves", "-o", tmp_path / "c.png")
    assert code != 0 and "training log" in output and "Traceback" not in output
    assert not (tmp_path / "c.png").exists()


BAD = [
    (["samples", "--count", "0"], "--count"),
    (["samples", "--k", "3"], "--k does not apply"),
    (["latent-grid", "--dims", "0,5"], "--dims"),
    (["latent-grid", "--dims", "a,b"], "--dims"),
    (["latent-grid", "--dims", "1,1"], "--dims"),
    (["latent-grid", "--size", "1"], "--size"),
    (["latent-scatter", "--limit", "1"], "--limit"),
    (["latent-histograms", "--k", "0"], "--k"),
    (["morph", "--from", "5000"], "--from"),
    (["morph", "--to", "-1"], "--to"),
    (["morph", "--steps", "1"], "--steps"),
    (["attribute"], "--positive"),
    (["attribute", "--positive", "12", "--negative", "0"], "--positive"),
    (["attribute", "--positive", "1", "--negative", "coats"], "--negative"),
    (["attribute", "--positive", "1", "--negative", "1"], "--negative"),
    (["attribute", "--attributes", "missing.csv"], "--column"),
    (["attribute", "--attributes", "missing.csv", "--column", "Smiling"], "--attributes"),
    (["no-such-kind"], "KIND"),
    (["reconstructions", "--split", "validation"], "validation"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_options_are_one_clear_line(args, needle, vae_run, tmp_path):
    code, output = invoke("plot", vae_run, *args, "-o", tmp_path / "x.png")
    assert code != 0, output
    assert needle in output, output
    assert "Traceback" not in output
    assert not (tmp_path / "x.png").exists()


def test_output_must_be_a_png(vae_run, tmp_path):
    code, output = invoke("plot", vae_run, "samples", "-o", tmp_path / "x.jpg")
    assert code != 0 and "--out" in output and ".png" in output


@pytest.fixture(scope="module")
def face_folder(small_npz, tmp_path_factory):
    """An image folder of 60 files and a CelebA-style attribute CSV for them."""
    root = tmp_path_factory.mktemp("faces")
    images = np.load(small_npz)["x"][:60]
    rows = ["image_id,Smiling,Young"]
    for i, image in enumerate(images):
        name = f"{i:06d}.png"
        Image.fromarray(image).save(root / name)
        rows.append(f"{name},{1 if i % 2 else -1},1")
    (root.parent / "attrs.csv").write_text("\n".join(rows) + "\n")
    return root


def test_attribute_from_a_csv_of_a_folder(face_folder, vae_run, tmp_path):
    csv = face_folder.parent / "attrs.csv"
    common = ["plot", vae_run, "attribute", "--data", f"folder:{face_folder}", "--split", "train",
              "--attributes", csv]
    code, output = invoke(*common, "--column", "Smiling", "--count", "3", "-o", tmp_path / "a.png")
    assert code == 0, output
    check_png((tmp_path / "a.png").read_bytes())
    code, output = invoke(*common, "--column", "Grumpy", "-o", tmp_path / "b.png")
    assert code != 0 and "--column 'Grumpy'" in output and "Smiling" in output and "Traceback" not in output
    code, output = invoke(*common, "--column", "Young", "-o", tmp_path / "b.png")  # nobody is 'not Young'
    assert code != 0 and "--negative" in output and "Traceback" not in output
