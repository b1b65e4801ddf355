"""An export is checked against what its graphs do, not trusted by its labels (``genkit.runtime.integrity``).

Each case edits a good export the way a hand or a stray copy would: metadata that names other classes
than the graph takes, an fp32 graph saved under an int8 variant's name (with or without int8 metadata),
a prior graph beside a prior description that has none. Each is refused with one line when the export
is opened; without the checks each runs and gives images that are not what they claim to be.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bad_inputs.harness import assert_fails_cleanly
from bad_inputs.registry import Workspace, set_onnx_metadata


def _edit_all(export: Path, key: str, value) -> None:
    for graph in export.glob("*.onnx"):
        set_onnx_metadata(graph, key, json.dumps(value))


def _classes(count: int, label: int):
    def build(w: Workspace, cvae: Path) -> list[str]:
        export = Path(shutil.copytree(cvae, w.root / "export"))
        _edit_all(export, "genkit.condition", {"classes": count})
        return ["generate", str(export), "--label", str(label), "-o", str(w.root / "grid.png")]
    return build


def _fp32_named_int8(described: bool):
    def build(w: Workspace, cvae: Path) -> list[str]:
        export = w.export()
        copy = Path(shutil.copyfile(export / "decoder.onnx", export / "decoder.int8.onnx"))
        if described:
            import onnx

            model = onnx.load(str(copy))
            model.metadata_props.add(key="genkit.precision", value=json.dumps({"name": "int8"}))
            onnx.save(model, str(copy))
        return ["generate", str(export), "-o", str(w.root / "grid.png")]  # auto: the int8 file on the CPU
    return build


def _prior_beside_gaussian(w: Workspace, cvae: Path) -> list[str]:
    # what a vq-vae export whose prior description was edited to a Gaussian looks like to the runtime: a
    # prior graph beside a description that has none (a real vq-vae export takes minutes to write here)
    export = w.export()
    shutil.copyfile(export / "decoder.onnx", export / "prior.onnx")
    set_onnx_metadata(export / "prior.onnx", "genkit.graph", json.dumps("prior"))
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


CHECKED = {
    "metadata-names-more-classes": (_classes(20, 15), r"decoder\.onnx: its metadata says 20 classes, but the graph "
                                                      r"does not take them \(labels 19 and 20 give the same image\)"),
    "metadata-names-fewer-classes": (_classes(5, 3), r"decoder\.onnx: its metadata says 5 classes, but the graph "
                                                     r"does not take them \(it tells labels 5 and 6 apart\)"),
    "fp32-graph-named-int8": (_fp32_named_int8(False), r"decoder\.int8\.onnx: its metadata says it is the fp32 "
                                                       r"graph, not the int8 one its name says"),
    "fp32-graph-named-and-described-int8": (_fp32_named_int8(True), r"decoder\.int8\.onnx is named and described "
                                                                    r"as int8, but its graph holds fp32 weights"),
    "prior-graph-beside-a-gaussian-prior": (_prior_beside_gaussian, r"holds prior\.onnx, but its metadata describes "
                                                                    r"a diagonal-gaussian prior"),
}


@pytest.mark.parametrize("checked", list(CHECKED))
def test_an_export_that_is_not_what_it_says_is_refused(checked, small_npz, good_run, good_export, good_cvae_export,
                                                       tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    build, expect = CHECKED[checked]
    assert_fails_cleanly(build(w, good_cvae_export), w.env, tmp_path, expect)
