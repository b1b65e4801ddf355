"""``genkit export``, ``generate``, ``reconstruct`` and ``encode``: outputs, and one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from genkit.cli import cli
from genkit.commands.inference import labels_path, pair_rows
from genkit.runtime import cuda_available


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def assert_one_line_error(code, output, *fragments):
    assert code != 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_export_command(run_copy, tmp_path):
    code, output = invoke("export", "--onnx", run_copy("ae"), "-o", tmp_path / "out", "--exporter", "torchscript")
    assert code == 0, output
    assert "verifying on 128 real images of npz:" in output
    assert "encoder.onnx: torchscript exporter, max abs difference" in output
    assert output.strip().endswith(str(tmp_path / "out"))


def test_export_command_errors(run_copy, tmp_path):
    assert_one_line_error(*invoke("export", "--onnx", tmp_path / "nowhere"), "does not exist")
    assert invoke("export", run_copy("vae"))[0] == 2  # --onnx is required: a usage error


@pytest.mark.parametrize("source", ["run", "export"])
def test_generate_from_a_run_and_from_its_export(runs, exports, tmp_path, source):
    folder = runs["vae"] if source == "run" else exports["vae"].out
    grid, npy = tmp_path / "grid.png", tmp_path / "samples.npy"
    code, output = invoke("generate", folder, "-n", 64, "--seed", 5, "-o", grid, "--npy", npy, "--provider", "cpu")
    assert code == 0, output
    assert ("torch cpu" if source == "run" else "CPUExecutionProvider") in output
    samples = np.load(npy)
    assert samples.shape == (64, 1, 28, 28) and samples.dtype == np.float32
    assert Image.open(grid).format == "PNG"


def test_run_and_export_generate_the_same_images_for_a_seed(runs, exports, tmp_path):
    outputs = []
    for folder in (runs["ae"], exports["ae"].out):
        path = tmp_path / f"{len(outputs)}.npy"
        assert invoke("generate", folder, "-n", 16, "--seed", 9, "--npy", path)[0] == 0
        outputs.append(np.load(path))
    assert np.abs(outputs[0] - outputs[1]).max() <= 1e-5


def test_reconstruct_writes_originals_above_reconstructions(exports, tmp_path):
    out = tmp_path / "recon.png"
    code, output = invoke("reconstruct", exports["vae"].out, "--split", "test", "-n", 6, "--columns", 3, "-o", out)
    assert code == 0, output
    assert "reconstructed 6 images of npz:" in output
    width, height = Image.open(out).size
    assert height > width  # 4 rows (2 pairs) of 3 columns


def test_pair_rows_layout():
    originals = np.zeros((5, 1, 2, 2), np.float32)
    recon = np.full((5, 1, 2, 2), 0.5, np.float32)
    tiles = pair_rows(originals, recon, 3)
    assert tiles.shape == (12, 1, 2, 2)
    assert [float(t.mean()) for t in tiles] == [0, 0, 0, .5, .5, .5, 0, 0, 1, .5, .5, 1]


@pytest.mark.parametrize("source", ["run", "export"])
def test_encode_writes_codes_and_labels(runs, exports, tmp_path, source):
    folder = runs["ae"] if source == "run" else exports["ae"].out
    out = tmp_path / "codes.npy"
    code, output = invoke("encode", folder, "-n", 50, "-o", out)
    assert code == 0, output
    codes, labels = np.load(out), np.load(labels_path(out))
    assert codes.shape == (50, 2) and labels.shape == (50,) and labels.dtype == np.int64
    bundle = tmp_path / "codes.npz"
    assert invoke("encode", folder, "--split", "train", "-o", bundle)[0] == 0
    with np.load(bundle) as arrays:
        assert set(arrays.files) == {"codes", "code", "labels"}
        assert arrays["codes"].shape == (512, 2)


def test_encode_from_an_npy_array(exports, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 1, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "codes.npy"
    code, output = invoke("encode", exports["vae"].out, "--images", tmp_path / "images.npy", "-o", out)
    assert code == 0, output
    assert np.load(out).shape == (10, 2) and not labels_path(out).exists()


# -- bad input: one line, non-zero exit, nothing overwritten ------------------------------------------

@pytest.fixture
def existing_output(tmp_path):
    path = tmp_path / "grid.png"
    path.write_bytes(b"an earlier grid")
    return path


def test_run_folder_with_missing_weights(run_copy, existing_output):
    run = run_copy("vae")
    (run / "model.safetensors").unlink()
    assert_one_line_error(*invoke("generate", run, "-o", existing_output), "model.safetensors is missing")
    assert existing_output.read_bytes() == b"an earlier grid"


def test_run_folder_with_corrupt_weights(run_copy, existing_output):
    run = run_copy("vae")
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert_one_line_error(*invoke("generate", run, "-o", existing_output), "corrupt or truncated")
    assert existing_output.read_bytes() == b"an earlier grid"


def test_export_folder_missing_a_graph(export_copy, existing_output):
    folder = export_copy("vae")
    (folder / "encoder.onnx").unlink()
    assert_one_line_error(*invoke("generate", folder, "-o", existing_output), "encoder.onnx is missing")
    assert existing_output.read_bytes() == b"an earlier grid"


def test_export_folder_with_foreign_metadata(export_copy, existing_output):
    import onnx

    folder = export_copy("vae")
    model = onnx.load(str(folder / "decoder.onnx"))
    del model.metadata_props[:]
    model.metadata_props.add(key="producer", value="someone else")
    onnx.save(model, str(folder / "decoder.onnx"))
    assert_one_line_error(*invoke("generate", folder, "-o", existing_output), "is not a genkit export")
    assert existing_output.read_bytes() == b"an earlier grid"


def test_image_batch_of_the_wrong_shape(exports, tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((4, 3, 28, 28), np.float32))
    out = tmp_path / "codes.npy"
    out.write_bytes(b"earlier codes")
    code, output = invoke("encode", exports["vae"].out, "--images", tmp_path / "rgb.npy", "-o", out)
    assert_one_line_error(code, output, "expected float32 images of shape (N, 1, 28, 28)",
                          "got float32 array of shape (4, 3, 28, 28)")
    assert out.read_bytes() == b"earlier codes"


def test_dataset_of_the_wrong_shape(exports, faces_npz, tmp_path):
    code, output = invoke("reconstruct", exports["vae"].out, "--data", f"npz:{faces_npz}", "-o", tmp_path / "r.png")
    assert_one_line_error(code, output, "recipe expects 1×28×28")
    assert not (tmp_path / "r.png").exists()


@pytest.mark.skipif(cuda_available(), reason="onnxruntime here has a CUDA provider")
def test_unavailable_provider(exports, existing_output):
    code, output = invoke("generate", exports["vae"].out, "--provider", "cuda", "-o", existing_output)
    assert_one_line_error(code, output, "provider 'cuda' asked for", "no CUDA execution provider")
    assert existing_output.read_bytes() == b"an earlier grid"


def test_unavailable_torch_device_for_a_run_folder(runs, existing_output):
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA device")
    code, output = invoke("generate", runs["vae"], "--provider", "cuda", "-o", existing_output)
    assert_one_line_error(code, output, "torch sees no CUDA device")


def test_source_that_is_neither(tmp_path, existing_output):
    assert_one_line_error(*invoke("generate", tmp_path, "-o", existing_output), "neither a run folder")
    assert_one_line_error(*invoke("generate", tmp_path / "nowhere", "-o", existing_output), "does not exist")


# -- conditional models and latents of any shape -----------------------------------------------------

def test_generate_one_class_or_a_row_per_class(family_export, tmp_path):
    folder = family_export("conditional")
    npy = tmp_path / "samples.npy"
    code, output = invoke("generate", folder, "-n", 5, "--label", 2, "--npy", npy, "--seed", 3)
    assert code == 0, output
    assert "generated 5 images of class 2" in output
    from genkit.runtime import ExportedModel

    model = ExportedModel(folder, "cpu")
    assert np.array_equal(np.load(npy), model.generate(5, seed=3, labels=2))
    grid = tmp_path / "grid.png"
    code, output = invoke("generate", folder, "-n", 7, "--label", "all", "--npy", npy, "-o", grid)
    assert code == 0, output
    assert "generated 9 images, a row per class (3)" in output  # ceil(7 / 3) = 3 per class
    assert np.array_equal(np.load(npy), model.generate(9, labels=np.repeat(np.arange(3), 3)))
    width, height = Image.open(grid).size
    assert width == height  # 3 rows (the classes) of 3 columns
    assert invoke("generate", folder, "--label", "all", "--columns", 4, "--npy", npy, "-o", grid)[0] == 0
    assert np.load(npy).shape == (12, *model.input_shape)
    width, height = Image.open(grid).size
    assert width > height  # 3 rows of 4


@pytest.mark.parametrize("args, fragment", [
    (["--label", 3], "label 3 is out of range: this model's labels are 0 to 2"),
    (["--label", "-1"], "label -1 is out of range"),
    (["--label", "two"], "--label must be a class number or all; got 'two'"),
    ([], "this model is conditional on a class label in [0, 3): pass labels (`--label N` or `--label all`"),
])
def test_bad_labels_are_one_line(family_export, tmp_path, args, fragment):
    out = tmp_path / "samples.npy"
    assert_one_line_error(*invoke("generate", family_export("conditional"), "--npy", out, *args), fragment)
    assert not out.exists()


def test_an_unconditional_model_given_a_label_is_one_line(exports, tmp_path):
    assert_one_line_error(*invoke("generate", exports["vae"].out, "--label", 1, "--npy", tmp_path / "s.npy"),
                          "this model is unconditional: it takes no --label")


def test_encode_and_reconstruct_a_conditional_model(family_export, tmp_path):
    folder = family_export("conditional")
    np.save(tmp_path / "images.npy", np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32))
    out = tmp_path / "codes.npy"
    assert_one_line_error(*invoke("encode", folder, "--images", tmp_path / "images.npy", "-o", out),
                          "these images have no labels: give --label N")
    code, output = invoke("encode", folder, "--images", tmp_path / "images.npy", "--label", 1, "-o", out)
    assert code == 0, output
    from genkit.runtime import ExportedModel

    images = np.load(tmp_path / "images.npy")
    assert np.array_equal(np.load(out), ExportedModel(folder, "cpu").codes(images, 1))
    code, output = invoke("reconstruct", folder, "--images", tmp_path / "images.npy", "--label", 2,
                          "-o", tmp_path / "r.png")
    assert code == 0, output


def test_encode_writes_codes_of_a_spatial_latent(family_export, tmp_path):
    np.save(tmp_path / "images.npy", np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32))
    out = tmp_path / "codes.npz"
    code, output = invoke("encode", family_export("categorical"), "--images", tmp_path / "images.npy", "-o", out)
    assert code == 0, output
    with np.load(out) as arrays:
        assert set(arrays.files) == {"codes", "z_e"}
        assert arrays["codes"].shape == arrays["z_e"].shape == (6, 4, 2, 3)
    assert invoke("encode", family_export("categorical"), "--images", tmp_path / "images.npy",
                  "-o", tmp_path / "codes.npy")[0] == 0
    assert np.load(tmp_path / "codes.npy").shape == (6, 4, 2, 3)


def test_generate_from_a_network_prior_export(family_export, tmp_path):
    npy = tmp_path / "samples.npy"
    code, output = invoke("generate", family_export("network"), "-n", 6, "--npy", npy, "--seed", 2)
    assert code == 0, output
    from genkit.runtime import ExportedModel

    assert np.array_equal(np.load(npy), ExportedModel(family_export("network"), "cpu").generate(6, seed=2))
