"""A failing export says which component failed and why, falls back between exporters, and never
leaves a half-written export or damages the one already there."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import genkit
import genkit.onnx.export_model as export_model_module
import genkit.onnx.export_run as export_run_module
from genkit.contract.components import Sampler
from genkit.errors import ExportError
from genkit.onnx import graph as graph_module
from genkit.onnx.describe import describe_sampler
from genkit.onnx.export_run import export_run
from genkit.onnx.exporter import ExporterFailure
from genkit.onnx.parity import check_onnx_parity


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(folder):
    return [p.name for p in folder.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def exported_vae(run_copy):
    """A vae run copy with a finished export in RUN/onnx, and that export's bytes."""
    run = run_copy("vae")
    export_run(run, exporter="torchscript")  # the faster exporter: these tests are about the folder
    return run, snapshot(run / "onnx")


def test_a_verification_failure_leaves_the_previous_export_byte_identical(exported_vae, monkeypatch):
    run, before = exported_vae
    monkeypatch.setattr(graph_module, "max_difference", lambda run, reference, batches: 1.0)
    with pytest.raises(ExportError) as failure:
        export_run(run)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("encoder 'conv' (plugin vae) cannot be exported to ONNX: ")
    assert "dynamo: onnxruntime differs from torch by up to 1 (> 1e-05)" in message and "torchscript:" in message
    assert message.endswith("--atol sets the tolerance")
    assert snapshot(run / "onnx") == before
    assert not leftovers(run / "onnx")


def test_a_failure_after_writing_leaves_the_previous_export_byte_identical(exported_vae, monkeypatch):
    run, before = exported_vae

    def broken_check(stage, *args):
        assert sorted(p.name for p in stage.iterdir()) == ["decoder.onnx", "encoder.onnx"]
        raise ExportError("the written export reconstructs differently from the torch model")

    monkeypatch.setattr(export_model_module, "_check_folder", broken_check)
    with pytest.raises(ExportError, match="reconstructs differently"):
        export_run(run, exporter="torchscript")
    assert snapshot(run / "onnx") == before
    assert not leftovers(run / "onnx")


def test_a_verified_export_replaces_the_old_one(exported_vae):
    run, before = exported_vae
    (run / "onnx" / "decoder.onnx").write_bytes(b"an older, broken graph")
    export_run(run, exporter="torchscript")
    after = snapshot(run / "onnx")
    assert sorted(after) == ["decoder.onnx", "encoder.onnx"] and after["decoder.onnx"] != b"an older, broken graph"
    assert not leftovers(run / "onnx")


def test_dynamo_failure_falls_back_to_torchscript(run_copy, tmp_path, monkeypatch):
    real = graph_module.export_module

    def no_dynamo(module, examples, input_names, output_names, opset, exporter):
        if exporter == "dynamo":
            raise ExporterFailure("unsupported operator aten::made_up")
        return real(module, examples, input_names, output_names, opset, exporter)

    monkeypatch.setattr(graph_module, "export_module", no_dynamo)
    lines = []
    report = export_run(run_copy("vae"), tmp_path / "out", log=lines.append)
    assert {g.exporter for g in report.graphs.values()} == {"torchscript"}
    assert report.graphs["encoder"].notes == ["dynamo: unsupported operator aten::made_up"]
    assert any("dynamo exporter failed" in line for line in lines)


def test_a_dynamo_graph_that_mismatches_is_replaced_by_torchscript(runs, monkeypatch):
    real = graph_module.export_module

    def wrong_weights(module, examples, input_names, output_names, opset, exporter):
        model = real(module, examples, input_names, output_names, opset, exporter)
        if exporter == "dynamo":  # what a numeric exporter bug looks like: a plausible graph, wrong numbers
            import onnx.numpy_helper as nh

            biggest = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
            biggest.CopyFrom(nh.from_array(nh.to_array(biggest) * 1.01, biggest.name))
        return model

    monkeypatch.setattr(graph_module, "export_module", wrong_weights)
    decoder = genkit.load(runs["vae"]).decoder
    z = [{"z": np.random.default_rng(n).standard_normal((n, 2), dtype=np.float32)} for n in (1, 7)]
    graph = graph_module.export_verified(decoder, (torch.from_numpy(z[1]["z"][:2]),), ("z",), ("images",), z,
                                         name="decoder 'transposed-conv' (plugin vae)", opset=20)
    assert graph.exporter == "torchscript" and graph.max_abs_diff <= 1e-5
    assert graph.notes[0].startswith("dynamo: onnxruntime differs from torch by up to")


def test_out_folder_with_other_files_is_refused_untouched(run_copy, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an export folder"):
        export_run(run_copy("vae"), out)
    assert snapshot(out) == {"notes.txt": b"keep me"}


def test_missing_run_folder_and_missing_weights_are_one_line_errors(run_copy, tmp_path):
    with pytest.raises(genkit.errors.RunFolderError, match="does not exist"):
        export_run(tmp_path / "nowhere")
    run = run_copy("vae")
    (run / "model.safetensors").unlink()
    with pytest.raises(genkit.errors.RunFolderError, match="model.safetensors is missing"):
        export_run(run)
    assert not (run / "onnx").exists()


class RandomEncoder(torch.nn.Module):
    """An encoder that draws noise in forward: it has no deterministic graph."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.spec = inner, inner.spec

    def forward(self, x):
        mu, log_var = self.inner(x)
        return mu + torch.randn_like(mu), log_var


def test_a_component_with_a_random_op_is_named_in_the_error(runs, tmp_path, monkeypatch):
    real_load = export_run_module.load_model

    def load_with_random_encoder(run_dir, device="cpu"):
        model = real_load(run_dir, device)
        model.encoder = RandomEncoder(model.encoder)
        return model

    monkeypatch.setattr(export_run_module, "load_model", load_with_random_encoder)
    with pytest.raises(ExportError) as failure:
        export_run(runs["vae"], tmp_path / "out")
    message = str(failure.value)
    assert message.startswith("encoder 'conv' (plugin vae) cannot be exported to ONNX:")
    assert "random operators" in message or "differs from torch" in message
    assert not (tmp_path / "out").exists()


def test_a_sampler_with_its_own_prior_cannot_be_exported(runs):
    model = genkit.load(runs["vae"])

    class OwnPrior(type(model.sampler)):
        def sample_prior(self, n, generator=None):
            return torch.rand(n, *self.spec.latent_shape, generator=generator)

    model.sampler = OwnPrior(spec=model.spec)
    entry = {"name": "uniform", "plugin": "thirdparty"}
    with pytest.raises(ExportError, match=r"^sampler 'uniform' \(plugin thirdparty\) cannot be exported to ONNX: "
                                          r"it overrides sample_prior"):
        describe_sampler(model, entry)
    assert OwnPrior.sample_prior is not Sampler.sample_prior


def test_parity_check_for_plugin_authors(runs):
    model = genkit.load(runs["vae"])
    model.train()
    result = check_onnx_parity(model)
    assert model.training  # the caller's mode is restored
    assert set(result) == {"encoder", "decoder"}
    assert all(r["max_abs_diff"] <= 1e-5 for r in result.values())
    model.encoder = RandomEncoder(model.encoder)
    with pytest.raises(AssertionError, match="encoder 'conv' cannot be exported to ONNX: torchscript: the "
                                             "graph contains random operators"):
        check_onnx_parity(model, np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32),
                          exporters=("torchscript",))


def test_genkit_testing_offers_the_parity_check(runs):
    from genkit.testing import check_onnx_parity as offered

    result = offered(genkit.load(runs["ae"]), exporters=("torchscript",))
    assert {r["exporter"] for r in result.values()} == {"torchscript"}


def test_report_fields(exports):
    report = exports["vae"]
    assert {f.name for f in dataclasses.fields(report)} == {"out", "graphs", "data", "real_data", "opset", "seconds",
                                                            "variants"}
