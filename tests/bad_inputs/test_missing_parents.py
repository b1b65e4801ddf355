"""The folders above an output: made when missing, named in one warning line, removed if the command fails.

``plot RUN samples -o /nonexistent/dir/x.png`` used to create ``/nonexistent/dir`` without a word; a
mistyped path made a tree nobody asked for. The rule for every command that writes
(``genkit.files.outputs.make_parent``): the missing folders are made and named (so that a typo shows at
once, while ``-o exports/vae`` on a fresh machine still works), and a command that fails afterwards
leaves nothing of them behind.
"""

from __future__ import annotations

import pytest
from plugin_fixtures import write_plugin

from bad_inputs.harness import assert_fails_cleanly, invoke
from bad_inputs.registry import Workspace

# Each writing command with an output under two folders that do not exist, and the file it must write.
COMMANDS = {
    "generate": (lambda w, missing: ["generate", str(w.export()), "-n", "4", "-o", str(missing / "grid.png")],
                 "grid.png"),
    "generate-npy": (lambda w, missing: ["generate", str(w.export()), "-n", "4", "--npy", str(missing / "s.npy")],
                     "s.npy"),
    "reconstruct": (lambda w, missing: ["reconstruct", str(w.export()), "-n", "4", "-o", str(missing / "r.png")],
                    "r.png"),
    "encode": (lambda w, missing: ["encode", str(w.export()), "--split", "test", "-o", str(missing / "codes.npy")],
               "codes.npy"),
    "plot": (lambda w, missing: ["plot", str(w.run()), "samples", "--count", "4", "-o", str(missing / "x.png")],
             "x.png"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_missing_folders_above_an_output_are_made_and_named(command, small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    missing = tmp_path / "nonexistent" / "dir"
    build, written = COMMANDS[command]
    code, output = invoke(build(w, missing), w.env, tmp_path)
    assert code == 0, output
    assert f"genkit: warning: made the folder {tmp_path / 'nonexistent'} and 1 below it for {missing / written}: " \
           f"it did not exist" in output.splitlines()
    assert (missing / written).is_file()


FAILING_COMMAND = """
import click
from genkit.contract.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command("write-then-fail")
    @click.option("-o", "out")
    def write_then_fail(out):
        from genkit.errors import DataError
        from genkit.files.outputs import check_output

        check_output(out)
        raise DataError("the images ran out half-way")
"""


def test_a_command_that_fails_after_making_folders_leaves_none(small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    write_plugin(tmp_path.parent / f"{tmp_path.name}-site", "failing_command", FAILING_COMMAND)
    assert_fails_cleanly(["write-then-fail", "-o", str(tmp_path / "a" / "b" / "out.png")], w.env, tmp_path,
                         r"the images ran out half-way", plugin_paths=[tmp_path.parent / f"{tmp_path.name}-site"])


def test_a_training_that_fails_removes_the_folders_made_for_its_run(small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    # a loss that is not finite from the first step: the run stops before its first checkpoint
    args = ["train", "vae", "-o", str(tmp_path / "a" / "b" / "run"), "--quiet", *w.sets(**{"training.lr": 1e30})]
    assert_fails_cleanly(args, w.env, tmp_path, r"(not finite|NaN|nan|inf)")
