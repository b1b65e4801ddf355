"""``ExportedModel``: the numpy API, input checks, provider choice and refusing damaged exports."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper

import genkit
from genkit.errors import ExportError
from genkit.runtime import ExportedModel, InputError, ProviderError, cuda_available, open_source, source_kind
from genkit.runtime.run_model import RunModel


@pytest.fixture(scope="module")
def vae(exports):
    return ExportedModel(exports["vae"].out, provider="cpu")


def test_api_shapes_and_names(vae, real_images):
    x = real_images("vae", 5)
    params = vae.encode(x)
    assert list(params) == ["mu", "log_var", "latent"]
    assert all(v.shape == (5, 2) and v.dtype == np.float32 for v in params.values())
    assert np.array_equal(vae.codes(x), params["latent"]) and np.array_equal(params["latent"], params["mu"])
    assert vae.parameter_names == ("mu", "log_var") and vae.encoder_outputs == ("mu", "log_var", "latent")
    assert vae.latent_shape == (2,) and vae.input_shape == (1, 28, 28) and vae.classes == 0
    recon = vae.reconstruct(x)
    assert recon.shape == (5, 1, 28, 28) and recon.dtype == np.float32
    assert np.abs(recon - vae.decode(params["mu"])).max() <= 1e-6
    assert 0.0 <= recon.min() and recon.max() <= 1.0
    assert vae.metadata["recipe"] == "vae" and set(vae.metadata["graphs"]) == {"encoder", "decoder"}
    assert "vae" in repr(vae)


def test_sampling_happens_on_the_host_with_a_seed(vae):
    a, b, c = vae.sample_prior(16, seed=3), vae.sample_prior(16, seed=3), vae.sample_prior(16, seed=4)
    assert a.shape == (16, 2) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(vae.generate(16, seed=3), vae.decode(a))
    assert vae.generate(0).shape == (0, 1, 28, 28)


def test_ae_samples_its_fitted_prior(exports):
    ae = ExportedModel(exports["ae"].out, provider="cpu")
    assert list(ae.encode(np.zeros((1, 1, 28, 28), np.float32))) == ["code", "latent"]
    mean, std = ae.prior.parsed["mean"], ae.prior.parsed["std"]
    assert ae.prior.family == "diagonal-gaussian" and not np.allclose(std, 1.0)  # fitted to the codes
    z = ae.sample_prior(20000, seed=0)
    assert np.allclose(z.mean(0), mean, atol=0.05 * std.max() + 1e-6)
    assert np.allclose(z.std(0), std, rtol=0.05)


def test_chunking_threads_binding_and_optimization_give_the_same_numbers(exports, vae, real_images):
    x = real_images("vae", 7)
    reference = vae.reconstruct(x)
    for options in ({"batch_size": 3}, {"threads": 1}, {"io_binding": "always"}, {"optimization": "disable"}):
        other = ExportedModel(exports["vae"].out, provider="cpu", **options)
        assert np.abs(other.reconstruct(x) - reference).max() <= 1e-6, options
        assert np.abs(other.generate(5) - vae.generate(5)).max() <= 1e-6, options


@pytest.mark.parametrize("bad, expected", [
    (np.zeros((2, 28, 28), np.float32), "got float32 array of shape (2, 28, 28)"),
    (np.zeros((2, 3, 28, 28), np.float32), "got float32 array of shape (2, 3, 28, 28)"),
    (np.zeros((2, 1, 32, 32), np.float32), "got float32 array of shape (2, 1, 32, 32)"),
    (np.zeros((2, 1, 28, 28), np.float64), "(use .astype(np.float32))"),
    (np.zeros((2, 1, 28, 28), np.uint8), "(divide uint8 pixels by 255)"),
    (np.full((2, 1, 28, 28), 255.0, np.float32), "got values in [255, 255]"),
    ([[0.0]], "got list"),
])
def test_a_wrong_image_batch_is_one_clear_error(vae, bad, expected):
    for method in (vae.encode, vae.codes, vae.reconstruct):
        with pytest.raises(InputError) as failure:
            method(bad)
        message = str(failure.value)
        assert "\n" not in message
        assert message.startswith("expected float32 images of shape (N, 1, 28, 28) with values in [0, 1]; ")
        assert expected in message


def test_wrong_latent_points_are_one_clear_error(vae):
    with pytest.raises(InputError, match=r"expected float32 latent points of shape \(N, 2\); got float32 array "
                                         r"of shape \(3, 5\)"):
        vae.decode(np.zeros((3, 5), np.float32))
    with pytest.raises(InputError, match="finite"):
        vae.decode(np.full((1, 2), np.nan, np.float32))
    with pytest.raises(InputError, match="non-negative integer"):
        vae.generate(-1)


@pytest.mark.skipif(cuda_available(), reason="onnxruntime here has a CUDA provider")
def test_asking_for_cuda_without_a_cuda_provider_is_an_error_not_a_fallback(exports):
    with pytest.raises(ProviderError) as failure:
        ExportedModel(exports["vae"].out, provider="cuda")
    assert "no CUDA execution provider" in str(failure.value) and "--provider cpu" in str(failure.value)
    assert isinstance(failure.value, RuntimeError)
    assert ExportedModel(exports["vae"].out, provider="auto").providers == ["CPUExecutionProvider"]


@pytest.mark.skipif(cuda_available(), reason="onnxruntime here has a CUDA provider")
def test_a_cuda_provider_that_does_not_start_is_an_error_for_cuda_and_a_fallback_for_auto(exports, monkeypatch):
    import onnxruntime

    # onnxruntime-gpu without working CUDA libraries lists the provider, then runs the session on the CPU.
    listed = ["CUDAExecutionProvider", *onnxruntime.get_available_providers()]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    with pytest.raises(ProviderError, match="CUDA provider did not start"):
        ExportedModel(exports["vae"].out, provider="cuda")
    assert ExportedModel(exports["vae"].out, provider="auto").providers == ["CPUExecutionProvider"]


def test_unknown_provider(exports):
    with pytest.raises(ProviderError, match="unknown provider 'tpu'"):
        ExportedModel(exports["vae"].out, provider="tpu")


# -- damaged export folders -------------------------------------------------------------------------

def rewrite_metadata(path, **changes):
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        name = prop.key.removeprefix("genkit.")
        if name in changes:
            prop.value = changes[name] if isinstance(changes[name], str) else json.dumps(changes[name])
    onnx.save(model, str(path))


def foreign_graph(path):
    node = helper.make_node("Identity", ["images"], ["mu"])
    graph = helper.make_graph([node], "foreign", [helper.make_tensor_value_info("images", 1, ["N", 2])],
                              [helper.make_tensor_value_info("mu", 1, ["N", 2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))


THREE_D = {"name": "gaussian", "prior": {"family": "diagonal-gaussian", "mean": [0.0] * 3, "std": [1.0] * 3}}
THREE_D_OUTPUTS = [{"name": n, "shape": [3]} for n in ("mu", "log_var", "latent")]
DAMAGE = {
    "missing decoder": (lambda d: (d / "decoder.onnx").unlink(), "decoder.onnx is missing"),
    "missing both": (lambda d: [p.unlink() for p in d.iterdir()], "encoder.onnx and decoder.onnx are missing"),
    "foreign graph": (lambda d: foreign_graph(d / "encoder.onnx"), "is not a genkit export: it has no genkit metadata"),
    "not onnx": (lambda d: (d / "encoder.onnx").write_bytes(b"\x00garbage"), "is not a graph onnxruntime can load"),
    "swapped graphs": (lambda d: [(d / "encoder.onnx").rename(d / "x"), (d / "decoder.onnx").rename(d / "encoder.onnx"),
                                  (d / "x").rename(d / "decoder.onnx")],
                       "metadata says it is the 'decoder' graph, but it is in the encoder.onnx file"),
    "latent shape differs": (lambda d: rewrite_metadata(d / "decoder.onnx", latent_shape=[3], sampler=THREE_D,
                                                        encoder_outputs=THREE_D_OUTPUTS),
                             "encoder.onnx and decoder.onnx do not belong to the same export "
                             "(latent_shape (2,) vs (3,)"),
    "latent shape inconsistent": (lambda d: rewrite_metadata(d / "decoder.onnx", latent_shape=[3],
                                                             encoder_outputs=THREE_D_OUTPUTS),
                                  "metadata genkit.sampler describes an unusable prior: the diagonal-gaussian prior's "
                                  "mean has shape (2,); the latent shape asks for (3,)"),
    "encoder outputs without the latent": (
        lambda d: rewrite_metadata(d / "encoder.onnx", encoder_outputs=[{"name": "mu", "shape": [2]}]),
        "metadata genkit.encoder_outputs must be a list of distinct {'name', 'shape'} objects"),
    "condition malformed": (lambda d: rewrite_metadata(d / "encoder.onnx", condition={"classes": 0}),
                            'metadata genkit.condition must be null or {"classes": K}'),
    "unknown prior family": (lambda d: rewrite_metadata(d / "encoder.onnx", sampler={"prior": {"family": "flow"}}),
                             "the prior's family is 'flow'; the families the runtime samples are diagonal-gaussian, "
                             "gaussian-mixture, categorical, network"),
    "format 1": (lambda d: [rewrite_metadata(d / f, format=1) for f in ("encoder.onnx", "decoder.onnx")],
                 f"has export format 1 (genkit {genkit.__version__}); this genkit reads format 2: re-export the run "
                 f"with this genkit"),
    "bad json": (lambda d: rewrite_metadata(d / "encoder.onnx", config="{not json"), "genkit.config is not valid JSON"),
    "newer format": (lambda d: [rewrite_metadata(d / f, format=99) for f in ("encoder.onnx", "decoder.onnx")],
                     "has export format 99"),
    "prior of wrong size": (lambda d: rewrite_metadata(d / "encoder.onnx", sampler={
        "name": "gaussian", "prior": {"family": "diagonal-gaussian", "mean": [0.0], "std": [1.0]}}),
        "the diagonal-gaussian prior's mean has shape (1,); the latent shape asks for (2,)"),
    "negative std": (lambda d: rewrite_metadata(d / "encoder.onnx", sampler={
        "prior": {"family": "diagonal-gaussian", "mean": [0.0, 0.0], "std": [1.0, -1.0]}}),
        "the diagonal-gaussian prior's std has negative values (-1)"),
    "metadata disagrees with graph": (
        lambda d: [rewrite_metadata(d / f, latent_shape=[3], sampler=THREE_D, encoder_outputs=THREE_D_OUTPUTS)
                   for f in ("encoder.onnx", "decoder.onnx")],
        "do not match its metadata"),
    "conditional metadata on an unconditional graph": (
        lambda d: [rewrite_metadata(d / f, condition={"classes": 3}) for f in ("encoder.onnx", "decoder.onnx")],
        "do not match its metadata (images (N, 1, 28, 28) float, labels (N) int64); export the run again"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_export_is_one_clear_error(export_copy, damage):
    folder = export_copy("vae")
    change, expected = DAMAGE[damage]
    change(folder)
    with pytest.raises(ExportError) as failure:
        ExportedModel(folder, provider="cpu")
    assert "\n" not in str(failure.value)
    assert expected in str(failure.value)


def test_missing_folder(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        ExportedModel(tmp_path / "nowhere")


def test_sources_are_told_apart_by_their_files(runs, exports, tmp_path):
    assert source_kind(runs["vae"]) == "run" and source_kind(exports["vae"].out) == "export"
    assert isinstance(open_source(runs["vae"], "cpu"), RunModel)
    assert isinstance(open_source(exports["vae"].out, "cpu"), ExportedModel)
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="neither a run folder"):
        source_kind(tmp_path / "empty")


@pytest.mark.parametrize("recipe", ["vae", "ae"])
def test_a_run_and_its_export_agree_through_the_same_api(runs, exports, real_images, recipe):
    run, exported = RunModel(runs[recipe], "cpu"), ExportedModel(exports[recipe].out, "cpu")
    x = real_images(recipe, 9)
    assert run.encoder_outputs == exported.encoder_outputs and run.latent_shape == exported.latent_shape
    assert np.array_equal(run.sample_prior(8, seed=1), exported.sample_prior(8, seed=1))
    assert np.abs(run.generate(8, seed=1) - exported.generate(8, seed=1)).max() <= 1e-5
    assert np.abs(run.reconstruct(x) - exported.reconstruct(x)).max() <= 1e-5
    assert np.abs(run.codes(x) - exported.codes(x)).max() <= 1e-5
    with pytest.raises(InputError):
        run.encode(x.astype(np.float64))
