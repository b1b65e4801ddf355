"""``export_run`` on real recipes: files, structure, metadata and parity with the torch model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

import genkit
from genkit.export_contract import DECODER, ENCODER, EXPORTERS
from genkit.export_contract import metadata as meta
from genkit.onnx.verify import all_nodes, is_random
from genkit.run.checkpoint import read_config
from genkit.runtime import ExportedModel

from .conftest import RECIPES

ATOL = 1e-5


@pytest.mark.parametrize("recipe", RECIPES)
def test_export_folder_holds_two_self_contained_checked_graphs(exports, recipe):
    out = exports[recipe].out
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx"]  # no external data file
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    for name in ("encoder.onnx", "decoder.onnx"):
        model = onnx.load(str(out / name), load_external_data=False)
        onnx.checker.check_model(model, full_check=True)
        assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
        assert not [n.op_type for n in all_nodes(model) if is_random(n) or "Random" in n.op_type]
        assert not [n.op_type for n in all_nodes(model) if n.op_type == "Dropout"]  # traced in eval mode
        for value in (*model.graph.input, *model.graph.output):
            assert value.type.tensor_type.shape.dim[0].dim_param, f"{name}: {value.name} has a fixed batch size"


@pytest.mark.parametrize("recipe", RECIPES)
def test_graph_signatures_follow_the_model_spec(exports, runs, recipe):
    model = genkit.load(runs[recipe])
    encoder = onnx.load(str(exports[recipe].out / "encoder.onnx"))
    decoder = onnx.load(str(exports[recipe].out / "decoder.onnx"))
    assert [i.name for i in encoder.graph.input] == ["images"]
    assert [o.name for o in encoder.graph.output] == [*model.spec.parameter_names, "latent"]
    assert [i.name for i in decoder.graph.input] == ["z"]
    assert [o.name for o in decoder.graph.output] == ["images"]
    expected = {"vae": ["mu", "log_var"], "ae": ["code"], "vae-faces": ["mu", "log_var"]}[recipe]
    assert list(model.spec.parameter_names) == expected


@pytest.mark.parametrize("recipe", RECIPES)
def test_metadata_is_complete(exports, runs, recipe):
    document = read_config(runs[recipe])
    model = genkit.load(runs[recipe])
    graphs = {}
    for graph in (ENCODER, DECODER):
        proto = onnx.load(str(exports[recipe].out / f"{graph}.onnx"))
        props = {p.key: p.value for p in proto.metadata_props}
        assert set(props) >= {meta.PREFIX + k for k in meta.SHARED_FIELDS + meta.GRAPH_FIELDS}
        values = {k[len(meta.PREFIX):]: json.loads(v) for k, v in props.items() if k.startswith(meta.PREFIX)}
        graphs[graph] = values
        assert values["graph"] == graph
        assert values["genkit_version"] == genkit.__version__
        assert values["recipe"] == recipe
        assert values["components"] == document["components"]
        assert values["config"]["model"] == document["config"]["model"]
        assert values["input_shape"] == list(model.spec.input_shape)
        assert values["value_range"] == [0.0, 1.0]
        assert values["format"] == 2
        assert values["latent_shape"] == list(model.spec.latent_shape) == [200 if recipe == "vae-faces" else 2]
        assert values["condition"] is None
        assert values["encoder_outputs"] == [{"name": name, "shape": values["latent_shape"]}
                                             for name in (*model.spec.parameter_names, "latent")]
        assert values["opset"] == 20 and proto.opset_import[0].version == 20
        assert values["exporter"]["name"] in EXPORTERS and values["exporter"]["torch"] == torch.__version__
        assert values["verification"]["max_abs_diff"] <= ATOL
        assert "real images" in values["verification"]["data"]
        sampler = values["sampler"]
        assert sampler["name"] == document["components"]["sampler"]["name"]
        assert sampler["plugin"] == document["components"]["sampler"]["plugin"]
        prior = model.sampler.prior()
        assert sampler["prior"]["family"] == "diagonal-gaussian"
        assert np.allclose(sampler["prior"]["mean"], prior.mean.numpy(), atol=1e-7)
        assert np.allclose(sampler["prior"]["std"], prior.std.numpy(), atol=1e-7)
    assert graphs["encoder"]["verification"]["batches"][:4] == [1, 2, 7, 256]
    assert graphs["decoder"]["verification"]["batches"][:4] == [1, 2, 7, 256]
    size = model.spec.latent_numel
    if recipe == "ae":  # the fitted prior, not N(0, I)
        assert graphs["encoder"]["sampler"]["prior"]["std"] != [1.0] * size
    else:
        assert graphs["encoder"]["sampler"]["prior"] == {"family": "diagonal-gaussian", "mean": [0.0] * size,
                                                          "std": [1.0] * size}


@pytest.mark.parametrize("recipe", RECIPES)
def test_runtime_matches_torch_on_real_images_for_every_batch_size(exports, runs, real_images, recipe):
    model = genkit.load(runs[recipe])
    exported = ExportedModel(exports[recipe].out, provider="cpu")
    assert exported.providers == ["CPUExecutionProvider"]
    images = real_images(recipe, 256)
    worst = 0.0
    for n in (1, 2, 7, 256):
        x = images[:n]
        with torch.no_grad():
            want = {k: v.numpy() for k, v in model.encode(torch.from_numpy(x)).items()}
            want["latent"] = model.codes(torch.from_numpy(x)).numpy()
            z = exported.sample_prior(n, seed=n)
            want_gen = model.decoder(torch.from_numpy(z)).numpy()
        got = exported.encode(x)
        assert list(got) == list(want)
        for name in want:
            assert got[name].shape == want[name].shape == (n, *model.spec.latent_shape)
            worst = max(worst, float(np.abs(got[name] - want[name]).max()))
        generated = exported.generate(n, seed=n)
        assert generated.shape == (n, *model.spec.input_shape)
        worst = max(worst, float(np.abs(generated - want_gen).max()))
    with torch.no_grad():  # the two graphs chained, on a few images
        want_recon = model.reconstruct(torch.from_numpy(images[:7])).numpy()
    worst = max(worst, float(np.abs(exported.reconstruct(images[:7]) - want_recon).max()))
    assert worst <= ATOL


def test_report_says_which_exporter_was_used(exports):
    for recipe, report in exports.items():
        assert report.real_data, recipe
        assert set(report.graphs) == {ENCODER, DECODER}
        for graph in (ENCODER, DECODER):
            assert report.graphs[graph].exporter in EXPORTERS
            assert report.graphs[graph].max_abs_diff <= ATOL
        assert report.seconds > 0


def test_the_torchscript_exporter_can_be_chosen(run_copy, tmp_path, exports):
    from genkit.onnx.export_run import export_run

    # auto tries dynamo first, and on these recipes it passes; the other exporter is there when asked for
    assert {g.exporter for report in exports.values() for g in report.graphs.values()} == {"dynamo"}
    report = export_run(run_copy("vae"), tmp_path / "out", exporter="torchscript")
    assert {g.exporter for g in report.graphs.values()} == {"torchscript"}
    exported = ExportedModel(tmp_path / "out", provider="cpu")
    assert exported.metadata["graphs"]["decoder"]["exporter"]["name"] == "torchscript"


def test_verification_falls_back_to_random_images_and_says_so(run_copy, tmp_path):
    from genkit.onnx.export_run import export_run

    run = run_copy("vae")
    document = json.loads((run / "config.json").read_text())
    document["config"]["data"]["name"] = f"npz:{tmp_path / 'gone.npz'}"
    (run / "config.json").write_text(json.dumps(document))
    report = export_run(run, tmp_path / "out", exporter="torchscript")
    assert not report.real_data
    assert report.data.startswith("random uniform images") and "gone.npz" in report.data
    assert ExportedModel(tmp_path / "out").metadata["graphs"]["encoder"]["verification"]["data"] == report.data


def test_an_opset_the_dynamo_exporter_cannot_write_is_written_by_the_other(run_copy, tmp_path):
    from genkit.onnx.export_run import export_run
    from genkit.onnx.exporter import graph_opset

    # the dynamo exporter writes opset 18 when asked for 17; the export must be what --opset said
    report = export_run(run_copy("vae"), tmp_path / "out", opset=17)
    assert {g.exporter for g in report.graphs.values()} == {"torchscript"}
    assert all("wrote opset 18, not the 17" in g.notes[0] for g in report.graphs.values())
    for graph in (ENCODER, DECODER):
        model = onnx.load(str(tmp_path / "out" / f"{graph}.onnx"))
        assert graph_opset(model) == 17
        assert json.loads({p.key: p.value for p in model.metadata_props}["genkit.opset"]) == 17
