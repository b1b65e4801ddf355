"""fp16 and int8 variants: written only when they pass, picked by --precision, run without torch."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from genkit.cli import cli
from genkit.errors import ExportError
from genkit.evaluation.classifier import ClassifierSettings
from genkit.onnx import precision
from genkit.onnx.export_run import export_run
from genkit.onnx.export_variants import VariantOptions
from genkit.onnx.subpixel import to_phase_convolutions
from genkit.onnx.variants import PRECISION_KEY, PRECISIONS_KEY
from genkit.runtime import ExportedModel

VARIANT_RECIPES = ("vae", "vae-faces")
SMALL = dict(calibration=64, check_images=128, samples=128, classifier=ClassifierSettings(epochs=1, limit=256))


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """The evaluation classifier the Fréchet check trains is cached in a scratch folder, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(scope="module")
def variant_exports(runs, tmp_path_factory) -> dict[str, object]:
    """recipe -> the report of exporting its run with every precision."""
    root = tmp_path_factory.mktemp("variants")
    return {recipe: export_run(runs[recipe], root / recipe, variants=VariantOptions.parse("all", **SMALL))
            for recipe in VARIANT_RECIPES}


@pytest.mark.parametrize("recipe", VARIANT_RECIPES)
def test_each_precision_is_written_after_its_checks(variant_exports, recipe):
    report = variant_exports[recipe]
    assert report.variants.rejected == []
    assert report.variants.written == {"encoder": ["fp32", "fp16", "int8"], "decoder": ["fp32", "fp16", "int8"]}
    names = sorted(p.name for p in report.out.iterdir())
    assert names == sorted(f"{g}{suffix}.onnx" for g in ("encoder", "decoder") for suffix in ("", ".fp16", ".int8"))
    listed = json.loads(_props(report.out / "encoder.onnx")[PRECISIONS_KEY])
    assert listed["tolerance"] == 0.02 and set(listed["graphs"]["decoder"]) == {"fp32", "fp16", "int8"}
    for graph in ("encoder", "decoder"):
        for name in ("fp16", "int8"):
            check = json.loads(_props(report.out / f"{graph}.{name}.onnx")[PRECISION_KEY])
            assert check["name"] == name and check["finite"]
            assert check["mse"]["change"] <= 0.02 and np.isfinite(check["max_abs_diff"])
            assert (check["frechet"] is None) == (graph == "encoder")
            if graph == "decoder":
                assert check["frechet"]["change"] <= 0.02
    int8 = json.loads(_props(report.out / "decoder.int8.onnx")[PRECISION_KEY])
    assert int8["calibration"]["images"] > 0 and "train split" in int8["calibration"]["data"]
    ops = {node.op_type for node in onnx.load(report.out / "decoder.int8.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "ConvTranspose" not in ops  # all layers int8-able
    fp16 = onnx.load(report.out / "decoder.fp16.onnx")
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fp32 in and out
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)


@pytest.mark.parametrize("recipe", VARIANT_RECIPES)
def test_the_runtime_runs_each_variant_close_to_fp32(variant_exports, recipe):
    out = variant_exports[recipe].out
    fp32 = ExportedModel(out, "cpu")
    z = fp32.sample_prior(16, seed=1)
    for name, bound in (("fp16", 0.01), ("int8", 0.25)):
        model = ExportedModel(out, "cpu", precision=name)
        assert model.precisions == {"encoder": name, "decoder": name}
        assert model.metadata["graphs"]["decoder"]["precision"] == name
        images = model.decode(z)
        assert np.isfinite(images).all() and np.abs(images - fp32.decode(z)).max() < bound
    assert ExportedModel(out, "cpu", precision="auto").precisions == {"encoder": "int8", "decoder": "int8"}


def test_a_variant_that_fails_its_check_is_not_written(runs, tmp_path, monkeypatch):
    good_int8 = precision.to_int8

    def shifted_int8(model, calibration, exclude=()):  # every output 0.5 too high: far worse reconstructions
        quantized = good_int8(model, calibration, exclude)
        graph = quantized.graph
        graph.initializer.append(onnx.numpy_helper.from_array(np.array(0.5, np.float32), "shift"))
        for output in graph.output:
            for node in graph.node:
                node.output[:] = [f"{name}_unshifted" if name == output.name else name for name in node.output]
            graph.node.append(onnx.helper.make_node("Add", [f"{output.name}_unshifted", "shift"], [output.name]))
        return quantized

    monkeypatch.setattr(precision, "to_int8", shifted_int8)
    monkeypatch.setattr(precision, "FLOAT16_MAX", 1e-3)  # so that every graph "overflows" float16
    out = tmp_path / "export"
    report = export_run(runs["vae"], out, variants=VariantOptions.parse("all", **SMALL))
    written = sorted(p.name for p in out.iterdir())
    assert "decoder.int8.onnx" not in written and not any(".fp16." in name for name in written)
    assert {"decoder.onnx", "encoder.onnx"} <= set(written)
    assert any(line.startswith("decoder.int8.onnx not written: reconstruction MSE +") and "2 % bound" in line
               for line in report.variants.rejected), report.variants.rejected
    assert sum("float16's range" in line for line in report.variants.rejected) == 2
    fp32 = ExportedModel(out, "cpu", precision="auto")  # the fp32 export survives; auto falls back to it
    assert fp32.precisions["decoder"] == "fp32" and np.isfinite(fp32.generate(4)).all()
    with pytest.raises(ExportError, match="no fp16 variant"):
        ExportedModel(out, "cpu", precision="fp16")


def test_the_command_line_says_what_it_did_not_write(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "FLOAT16_MAX", 1e-3)
    out = tmp_path / "export"
    result = CliRunner().invoke(cli, ["export", "--onnx", str(runs["vae"]), "-o", str(out), "--precision", "fp16",
                                      "--calibration-images", "64", "--classifier-limit", "256",
                                      "--classifier-epochs", "1"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and all("not written" in line for line in errors), result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx"]


@pytest.mark.parametrize("args, expect", [
    (["export", "--onnx", "RUN", "--precision", "int4"], "Invalid value for '--precision': 'int4'"),
    (["export", "--onnx", "RUN", "--accept-loss", "nan"], "nan is not a finite number"),
    (["generate", "EXPORT", "-o", "x.png", "--precision", "int4"], "Invalid value for '--precision': 'int4'"),
    (["generate", "FP32_ONLY", "-o", "x.png", "--precision", "int8"], "has no int8 variant .*decoder.int8.onnx"),
    (["reconstruct", "FP32_ONLY", "-o", "x.png", "--precision", "fp16"], "has no fp16 variant"),
    (["generate", "RUN", "-o", "x.png", "--precision", "int8"], "--precision int8 chooses an export folder's"),
    (["evaluate", "FP32_ONLY", "--precision", "int8"], "has no int8 variant"),
])
def test_bad_precisions_are_one_line(args, expect, runs, exports, variant_exports, tmp_path, monkeypatch):
    places = {"RUN": str(runs["vae"]), "EXPORT": str(variant_exports["vae"].out), "FP32_ONLY": str(exports["vae"].out)}
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [places.get(a, a) for a in args])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert re.search(expect, errors[0]), errors[0]
    assert "Traceback" not in result.output and not (tmp_path / "x.png").exists()


def test_generate_says_which_precision_it_used(variant_exports, tmp_path):
    result = CliRunner().invoke(cli, ["generate", str(variant_exports["vae"].out), "-n", "8",
                                      "-o", str(tmp_path / "grid.png")])
    assert result.exit_code == 0, result.output
    assert "(int8)" in result.output  # the CPU default


def test_each_variant_runs_without_torch(variant_exports, tmp_path):
    blocked = tmp_path / "no-torch"
    (blocked / "torch").mkdir(parents=True)
    (blocked / "torch" / "__init__.py").write_text('raise ImportError("No module named \'torch\' (blocked)")\n')
    script = f"""
import json, sys
import numpy as np
from genkit.runtime import ExportedModel
out = {{}}
for name in ("fp16", "int8"):
    model = ExportedModel({str(variant_exports["vae-faces"].out)!r}, provider="cpu", precision=name)
    images = model.generate(3, seed=0)
    out[name] = [list(images.shape), bool(np.isfinite(model.reconstruct(images)).all()), model.precisions["encoder"]]
out["heavy"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "genkit_plugins"))
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    env["PYTHONPATH"] = str(blocked)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"fp16": [[3, 3, 128, 128], True, "fp16"],
                                         "int8": [[3, 3, 128, 128], True, "int8"], "heavy": []}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter: small, fixed graphs
@pytest.mark.parametrize("stride, kernel, padding, output_padding", [
    (2, 3, 1, 1), (2, 4, 1, 0), (1, 3, 1, 0), (3, 5, 2, 2), (2, 2, 0, 0), (1, 5, 2, 0)])
def test_transposed_convolutions_become_phase_convolutions_exactly(stride, kernel, padding, output_padding):
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.ConvTranspose2d(6, 5, kernel, stride, padding, output_padding),
                                torch.nn.LeakyReLU(0.2)).eval()
    x = torch.randn(3, 6, 7, 7)
    buffer = io.BytesIO()
    torch.onnx.export(layer, (x,), buffer, input_names=["x"], output_names=["y"], dynamo=False, opset_version=18,
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    model = onnx.load_from_string(buffer.getvalue())
    assert to_phase_convolutions(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert "ConvTranspose" not in {node.op_type for node in model.graph.node}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (x, x[:1]):
        got = session.run(None, {"x": batch.numpy()})[0]
        np.testing.assert_allclose(got, layer(batch).detach().numpy(), atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_layer_the_rewrite_cannot_express_stays():
    layer = torch.nn.ConvTranspose2d(4, 4, 3, stride=2)  # 7 -> 15 rows: not twice the input
    buffer = io.BytesIO()
    torch.onnx.export(layer, (torch.randn(1, 4, 7, 7),), buffer, dynamo=False, opset_version=18)
    model = onnx.load_from_string(buffer.getvalue())
    assert to_phase_convolutions(model) == 0
    assert [node.op_type for node in model.graph.node] == ["ConvTranspose"]


def test_large_batches_split_across_sessions_give_the_same_images(exports):
    out = exports["vae"].out
    z = ExportedModel(out, "cpu").sample_prior(300, seed=0)
    sharded, single = ExportedModel(out, "cpu", threads=2), ExportedModel(out, "cpu", threads=2, parallel="ops")
    np.testing.assert_allclose(sharded.decode(z), single.decode(z), atol=1e-6)
    assert len(sharded.decoder._shards) == 2 and not single.decoder._shards


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(path).metadata_props}
