"""Surprises that are not errors get one ``genkit: warning:`` line on stderr, and the command goes on."""

from __future__ import annotations

import json
import re

import pytest

from bad_inputs.harness import invoke
from bad_inputs.registry import Workspace, set_onnx_metadata


def _rgb_folder(w: Workspace) -> list[str]:
    from PIL import Image

    (w.root / "photos").mkdir()
    Image.new("RGB", (28, 28), (200, 30, 30)).save(w.root / "photos" / "red.png")
    Image.new("RGB", (28, 28), (30, 30, 200)).save(w.root / "photos" / "blue.png")
    return ["data", "info", f"folder:{w.root / 'photos'}", "--recipe", "vae"]


def _incomplete_genkit_data(w: Workspace) -> list[str]:
    folder = w.root / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"")  # the other three files are missing
    return ["data", "info", "fashion-mnist", "--recipe", "vae"]


def _newer_genkit(w: Workspace) -> list[str]:
    run = w.run()
    document = json.loads((run / "config.json").read_text())
    document["genkit_version"] = "99.0"
    (run / "config.json").write_text(json.dumps(document))
    return ["generate", str(run), "-n", "4", "-o", str(w.root / "grid.png")]


def _export_of_a_newer_genkit(w: Workspace) -> list[str]:
    export = w.export()
    for graph in export.glob("*.onnx"):
        set_onnx_metadata(graph, "genkit.genkit_version", json.dumps("99.0"))
    return ["generate", str(export), "-n", "4", "-o", str(w.root / "grid.png")]


NOTES = {
    "rgb-folder-read-as-grayscale": (_rgb_folder, r"holds RGB images .* reads them as grayscale"),
    "genkit-data-incomplete": (_incomplete_genkit_data,
                               r"\$GENKIT_DATA/fashion-mnist .* has no train-labels-idx1-ubyte, t10k-images-idx3-"
                               r"ubyte, t10k-labels-idx1-ubyte; reading dataset fashion-mnist from /usr/share/"
                               r"datasets/fashion-mnist instead"),
    "run-of-a-newer-genkit": (_newer_genkit, r"was written by genkit 99\.0, newer than this"),
    "export-of-a-newer-genkit": (_export_of_a_newer_genkit, r"export was written by genkit 99\.0, newer than this"),
}


@pytest.mark.parametrize("note", list(NOTES))
def test_a_surprise_is_one_warning_line(note, small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    build, expect = NOTES[note]
    code, output = invoke(build(w), w.env, tmp_path)
    assert code == 0, output
    warnings = [line for line in output.splitlines() if line.startswith("genkit: warning:")]
    assert len(warnings) == 1 and re.search(expect, warnings[0]), output
