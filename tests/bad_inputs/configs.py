"""Malformed configurations: TOML syntax, wrong types, out-of-range values, unknown keys."""

from __future__ import annotations

from bad_inputs.registry import case


@case("config-toml-syntax", r"bad\.toml is not valid TOML")
def _(w):
    return w.train("--config", str(w.write("bad.toml", "[training\nepochs = 3\n")))


@case("config-wrong-type", r"training\.lr_decay_step must be an integer, got 'ten'")
def _(w):
    return w.train("--config", str(w.write("c.toml", '[training]\nlr_decay_step = "ten"\n')))


@case("config-out-of-range", r"training\.lr must be >= 0\.0")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[training]\nlr = -0.5\n")))


@case("config-unknown-key", r"unknown setting training\.epoch; did you mean training\.epochs")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[training]\nepoch = 3\n")))


@case("config-unknown-section", r"unknown section \[trainig\].*did you mean \[training\]")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[trainig]\nepochs = 3\n")))


@case("config-other-recipe", r"c\.toml is for recipe 'ae', not 'vae'")
def _(w):
    return w.train("--config", str(w.write("c.toml", 'recipe = "ae"\n')))


@case("config-missing-file", r"config file .*nope\.toml does not exist")
def _(w):
    return w.train("--config", str(w.root / "nope.toml"))


@case("config-negative-layer", r"encoder\.filters must contain only positive values")
def _(w):
    return w.train("--set", "encoder.filters=[32,-1,64,64]")


@case("config-input-shape", r"model\.input_shape must be \[channels, height, width\]")
def _(w):
    return w.train("--set", "model.input_shape=[1,28]")


@case("set-without-value", r"--set 'training\.epochs' is not of the form section\.key=value")
def _(w):
    return w.train("--set", "training.epochs")


@case("set-bad-choice", r"training\.precision must be one of 'fp32', 'bf16', 'fp16'; got 'fp8'")
def _(w):
    return w.train("--set", "training.precision=fp8")


@case("fp16-on-cpu", r"'fp16' needs a CUDA device")
def _(w):
    return w.train("--precision", "fp16", "--device", "cpu")




# -- settings that pass their own checks but contradict each other -------------------------------------

@case("cosine-min-lr-above-lr", r"training\.min_lr \(0\.01\) is above training\.lr \(0\.001\): the cosine schedule "
                                r"falls from lr to min_lr")
def _(w):
    return w.train("--set", "training.schedule=\"cosine\"", "--set", "training.min_lr=0.01", "--lr", "0.001")


@case("cosine-stage-lr-below-min-lr", r"stages\.prior\.lr \(0\.0001\) is below training\.min_lr \(0\.0002\)")
def _(w):
    return w.train("--set", "stages.prior.lr=0.0001", "--set", "training.schedule=\"cosine\"",
                   "--set", "training.min_lr=0.0002", recipe="vq-vae")


# -- numbers that are not numbers: NaN passes a `< min` check, and neither NaN nor inf is a setting ----

@case("set-lr-nan", r"training\.lr must be a finite number, got nan")
def _(w):
    return w.train("--set", "training.lr=nan")


@case("option-lr-inf", r"training\.lr must be a finite number, got inf")
def _(w):
    return w.train("--lr", "inf")


@case("config-grad-clip-minus-inf", r"training\.grad_clip must be a finite number, got -inf")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[training]\ngrad_clip = -inf\n")))


@case("component-setting-nan", r"loss\.r_loss_factor must be a finite number, got nan")
def _(w):
    return w.train("--set", "loss.r_loss_factor=nan")


@case("export-atol-nan", r"Invalid value for '--atol': nan is not a finite number")
def _(w):
    return ["export", "--onnx", str(w.run()), "-o", str(w.root / "export-out"), "--atol", "nan"]
