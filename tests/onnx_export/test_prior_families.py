"""Each prior family through the export: described in the metadata, sampled by the torch-free runtime.

The models are the unit-sized fixtures of ``fixture_priors`` (built, not trained), exported through
``export_model``. Sampling statistics are checked on many draws against the prior's own arrays, with
tolerances of about five standard errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genkit.errors import ExportError
from genkit.onnx.probe import nearest_codes
from genkit.runtime import ExportedModel, HostPrior
from genkit.runtime.prior import lookup
from genkit.runtime.run_model import RunModel

from . import fixture_priors as fp

FAMILY = {"mixture": "gaussian-mixture", "categorical": "categorical", "network": "network",
          "network-parallel": "network", "conditional": "diagonal-gaussian", "conditional-network": "network"}


def softmax(logits, axis=-1):
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("recipe", list(FAMILY))
def test_each_family_exports_its_graphs_and_describes_its_prior(family_export, recipe):
    folder = family_export(recipe)
    model = fp.build(recipe)
    exported = ExportedModel(folder, provider="cpu")
    network = FAMILY[recipe] == "network"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["encoder.onnx", "decoder.onnx"]
                                                             + (["prior.onnx"] if network else []))
    assert exported.prior.family == FAMILY[recipe]
    assert exported.metadata["sampler"]["prior"] == json.loads(json.dumps(model.sampler.prior().describe()))
    assert exported.latent_shape == model.spec.latent_shape and exported.classes == model.spec.classes
    assert exported.metadata["condition"] == ({"classes": model.spec.classes} if model.spec.classes else None)
    assert set(exported.metadata["graphs"]) == {"encoder", "decoder", *(("prior",) if network else ())}
    for graph in exported.metadata["graphs"].values():
        assert graph["verification"]["max_abs_diff"] <= 1e-5
    z = exported.sample_prior(5, seed=0)
    assert z.shape == (5, *model.spec.latent_shape) and z.dtype == np.float32
    assert np.array_equal(z, exported.sample_prior(5, seed=0)) and not np.array_equal(z, exported.sample_prior(5, 1))
    assert np.array_equal(z, RunModel.of(model).sample_prior(5, seed=0))  # a run draws what its export draws


def test_mixture_draws_pick_a_component_by_weight_then_its_gaussian(family_export):
    exported = ExportedModel(family_export("mixture"), provider="cpu")
    n = 30000
    z = exported.sample_prior(n, seed=1)
    # the components are far apart: each draw's dimensions all come from one, nearest its mean
    component = np.abs(z.mean(1, keepdims=True) - np.asarray(fp.MIXTURE_MEANS)).argmin(1)
    frequencies = np.bincount(component, minlength=3) / n
    assert np.allclose(frequencies, fp.MIXTURE_WEIGHTS, atol=0.015), frequencies
    for k in range(3):
        chosen = z[component == k]
        assert np.allclose(chosen.mean(0), fp.MIXTURE_MEANS[k], atol=5 * fp.MIXTURE_STDS[k] / np.sqrt(len(chosen)))
        assert np.allclose(chosen.std(0), fp.MIXTURE_STDS[k], rtol=0.05)


def test_categorical_draws_follow_the_logits_at_every_position(family_export):
    exported = ExportedModel(family_export("categorical"), provider="cpu")
    model = fp.build("categorical")
    n = 20000
    codes = exported.sample_codes(n, seed=2)
    assert codes.shape == (n, 2, 3) and codes.dtype == np.int64
    want = softmax(model.sampler.logits.numpy())  # (2, 3, M)
    got = np.stack([(codes == m).mean(0) for m in range(fp.CODES)], axis=-1)
    assert np.abs(got - want).max() <= 0.015, np.abs(got - want).max()
    z = exported.sample_prior(n, seed=2)  # the same draws, looked up in the codebook
    assert np.array_equal(z, lookup(model.sampler.codebook.numpy(), codes)) and z.shape == (n, 4, 2, 3)


def test_the_prior_graph_matches_torch_on_real_and_drawn_code_grids(family_export):
    exported = ExportedModel(family_export("network"), provider="cpu")
    model = fp.build("network")
    network = model.sampler.network
    images = np.random.default_rng(0).random((32, *fp.INPUT_SHAPE), dtype=np.float32)
    real = nearest_codes(exported.codes(images), model.sampler.codebook.numpy())
    drawn = exported.sample_codes(16, seed=3)
    for codes in (real, drawn):
        with torch.no_grad():
            want = network(torch.from_numpy(codes)).numpy()
        assert np.abs(exported.prior_logits(codes) - want).max() <= 1e-5
    assert np.array_equal(drawn, RunModel.of(model).sample_codes(16, seed=3))  # torch logits, same draws


def test_an_autoregressive_network_prior_is_drawn_position_by_position(family_export):
    exported = ExportedModel(family_export("network"), provider="cpu")
    model = fp.build("network")
    n = 6000
    codes = exported.sample_codes(n, seed=4)
    with torch.no_grad():  # the masked network's first position sees no code: its logits are fixed
        first = softmax(model.sampler.network(torch.zeros(1, 2, 3, dtype=torch.int64))[0, :, 0, 0].numpy())
        logits = model.sampler.network(torch.from_numpy(codes)).numpy()
    assert np.abs(np.bincount(codes[:, 0, 0], minlength=fp.CODES) / n - first).max() <= 0.03
    # each later position follows the logits the network gives it for the codes drawn before it
    expected = softmax(logits, axis=1).mean(0)  # (M, 2, 3): the average probability of each code
    frequencies = np.stack([(codes == m).mean(0) for m in range(fp.CODES)])
    assert np.abs(frequencies - expected).max() <= 0.03


CHAIN = 5  # codes of the fake network below


def chain_network(calls):
    """Logits that make each position's code the previous position's (raster order) plus one; 2 first."""
    def network(codes):
        calls.append(codes.copy())
        flat = codes.reshape(len(codes), -1)
        favourite = np.concatenate([np.full((len(codes), 1), 1), flat[:, :-1]], axis=1) + 1
        logits = np.full((len(codes), CHAIN, flat.shape[1]), -1e4, np.float32)
        np.put_along_axis(logits, (favourite % CHAIN)[:, None, :], 0.0, axis=1)
        return logits.reshape(len(codes), CHAIN, *codes.shape[1:])
    return network


@pytest.mark.parametrize("autoregressive", [True, False])
def test_host_sampling_of_a_network_prior_fills_the_grid_in_raster_order(autoregressive):
    description = {"family": "network", "graph": "prior.onnx", "codebook": np.eye(CHAIN, 2).tolist(),
                   "grid": [2, 3], "codes": CHAIN, "autoregressive": autoregressive}
    calls = []
    prior = HostPrior(description, (2, 2, 3), chain_network(calls))
    codes = prior.sample_codes(4, seed=0)
    if autoregressive:  # each position drawn once the ones before it in raster order are
        assert codes.tolist() == [[[2, 3, 4], [0, 1, 2]]] * 4 and len(calls) == 6
    else:  # every position at once, from the logits of an all-zero grid
        assert codes.tolist() == [[[2, 1, 1], [1, 1, 1]]] * 4 and len(calls) == 1
    assert not calls[0].any()


def test_a_conditional_export_takes_labels_in_both_graphs(family_export):
    import onnx

    folder = family_export("conditional")
    for graph, first in (("encoder", "images"), ("decoder", "z")):
        proto = onnx.load(str(folder / f"{graph}.onnx"))
        assert [i.name for i in proto.graph.input] == [first, "labels"]
        assert proto.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    exported = ExportedModel(folder, provider="cpu")
    model = fp.build("conditional")
    x = np.random.default_rng(1).random((6, *fp.INPUT_SHAPE), dtype=np.float32)
    labels = np.array([0, 1, 2, 2, 1, 0])
    z = exported.sample_prior(6, seed=5)
    with torch.no_grad():
        y = torch.from_numpy(labels)
        want_codes = model.codes(torch.from_numpy(x), y).numpy()
        want_images = model.decoder(torch.from_numpy(z), y).numpy()
        want_recon = model.reconstruct(torch.from_numpy(x), y).numpy()
    assert np.abs(exported.codes(x, labels) - want_codes).max() <= 1e-5
    assert np.abs(exported.generate(6, seed=5, labels=labels) - want_images).max() <= 1e-5
    assert np.abs(exported.reconstruct(x, labels) - want_recon).max() <= 1e-5
    one_class = exported.generate(6, seed=5, labels=2)  # one int: every image of that class
    assert np.array_equal(one_class, exported.generate(6, seed=5, labels=np.full(6, 2)))
    assert not np.allclose(one_class, exported.generate(6, seed=5, labels=0))


@pytest.mark.parametrize("backend", ["export", "run"])
def test_labels_missing_out_of_range_or_unwanted_are_one_line(family_export, backend):
    from genkit.runtime import InputError

    def open_(recipe):
        return ExportedModel(family_export(recipe), "cpu") if backend == "export" else RunModel.of(fp.build(recipe))

    conditional, unconditional = open_("conditional"), open_("mixture")
    x = np.zeros((2, *fp.INPUT_SHAPE), np.float32)
    for call in (lambda: conditional.generate(2), lambda: conditional.encode(x), lambda: conditional.reconstruct(x),
                 lambda: conditional.decode(np.zeros((2, 2), np.float32))):
        with pytest.raises(ExportError, match=r"^this model is conditional on a class label in \[0, 3\): pass labels"):
            call()
    with pytest.raises(InputError, match="^label 3 is out of range: this model's labels are 0 to 2$"):
        conditional.generate(2, labels=3)
    with pytest.raises(InputError, match=r"expected 2 integer class labels"):
        conditional.generate(2, labels=np.array([0, 1, 2]))
    with pytest.raises(ExportError, match="^this model is unconditional: it takes no class labels$"):
        unconditional.generate(2, labels=0)


def test_a_conditional_network_prior_export_generates_what_torch_decodes(family_export):
    exported = ExportedModel(family_export("conditional-network"), provider="cpu")
    model = fp.build("conditional-network")
    labels = np.arange(4)
    z = exported.sample_prior(4, seed=6)
    with torch.no_grad():
        want = model.decoder(torch.from_numpy(z), torch.from_numpy(labels)).numpy()
    assert np.abs(exported.generate(4, seed=6, labels=labels) - want).max() <= 1e-5
    assert np.abs(RunModel.of(model).generate(4, seed=6, labels=labels) - want).max() <= 1e-5


def test_a_network_export_without_its_prior_graph_or_with_another_is_one_line(family_export, tmp_path):
    import shutil

    folder = tmp_path / "network"
    shutil.copytree(family_export("network"), folder)
    (folder / "prior.onnx").unlink()
    with pytest.raises(ExportError, match=r"is not a complete export: prior.onnx is missing; export the run again$"):
        ExportedModel(folder, "cpu")
    shutil.copy(family_export("conditional-network") / "prior.onnx", folder / "prior.onnx")
    with pytest.raises(ExportError, match="encoder.onnx and prior.onnx do not belong to the same export"):
        ExportedModel(folder, "cpu")


def test_a_prior_graph_that_does_not_match_its_codebook_is_one_line(family_export, tmp_path):
    import shutil

    import onnx

    folder = tmp_path / "network"
    shutil.copytree(family_export("network"), folder)
    for name in ("encoder.onnx", "decoder.onnx", "prior.onnx"):  # metadata claiming a codebook of 6 codes
        proto = onnx.load(str(folder / name))
        for prop in proto.metadata_props:
            if prop.key == "genkit.sampler":
                sampler = json.loads(prop.value)
                sampler["prior"]["codebook"].append([0.0] * 4)
                sampler["prior"]["codes"] = 6
                prop.value = json.dumps(sampler)
        onnx.save(proto, str(folder / name))
    with pytest.raises(ExportError, match=r"prior.onnx: the graph's outputs logits \(batch, 5, 2, 3\) float do not "
                                          r"match its metadata \(logits \(N, 6, 2, 3\) float\)"):
        ExportedModel(folder, "cpu")
