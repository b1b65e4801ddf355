"""Bad command lines and broken plugins (a bare dist-info on PYTHONPATH, see plugin_fixtures)."""

from __future__ import annotations

from plugin_fixtures import write_plugin

from bad_inputs.registry import case


@case("cli-unknown-recipe", r"unknown recipe 'vea'; did you mean 'vae'")
def _(w):
    return w.train(recipe="vea")


@case("cli-no-recipe", r"name a recipe to train")
def _(w):
    return ["train"]


@case("cli-unknown-command", r"No such command 'trian'.*Did you mean 'train'")
def _(w):
    return ["trian", "vae"]


@case("cli-not-an-integer", r"Invalid value for '--epochs': 'ten' is not a valid integer")
def _(w):
    return w.train("--epochs", "ten")


@case("cli-nproc-zero", r"Invalid value for '--nproc'")
def _(w):
    return w.train("--nproc", "0")


@case("cli-nproc-indivisible", r"training\.batch_size 64 .* not divisible by the 3 processes")
def _(w):
    return w.train("--nproc", "3")


@case("cli-out-is-a-file", r"'--out': Directory .*out' is a file")
def _(w):
    w.write("out", "a file where the run folder would go")
    return w.train()


@case("cli-out-holds-a-run", r"is not empty; resume it with `genkit train --resume")
def _(w):
    return ["train", "vae", "-o", str(w.run()), "--quiet", *w.sets()]


# -- plugins --------------------------------------------------------------------------------------

@case("plugin-import-error-strict", r"plugin 'broken'.*import of 'broken_plugin' failed: RuntimeError: boom", True)
def _(w):
    write_plugin(w.root / "site", "broken_plugin", "raise RuntimeError('boom')\n", entry_name="broken")
    w.plugin_paths.append(w.root / "site")
    w.env["GENKIT_STRICT_PLUGINS"] = "1"
    return ["list"]


@case("plugin-hook-raises-strict", r"hook register_recipes raised ValueError: half a recipe", True)
def _(w):
    write_plugin(w.root / "site", "broken_plugin", "from genkit.contract.hookspecs import hookimpl\n\n@hookimpl\n"
                 "def register_recipes(register):\n    raise ValueError('half a recipe')\n", entry_name="broken")
    w.plugin_paths.append(w.root / "site")
    w.env["GENKIT_STRICT_PLUGINS"] = "1"
    return w.train()


@case("plugin-duplicate-name", r"recipe 'vae' is registered by both plugin 'vae' and plugin 'dupe'", True)
def _(w):
    write_plugin(w.root / "site", "dupe_plugin", "from genkit.contract.hookspecs import hookimpl\n\n@hookimpl\n"
                 "def register_recipes(register):\n    register('vae', encoder='conv', sampler='gaussian', "
                 "decoder='transposed-conv', loss='vae', input_shape=(1, 28, 28), latent_shape=2)\n", entry_name="dupe")
    w.plugin_paths.append(w.root / "site")
    w.env["GENKIT_STRICT_PLUGINS"] = "1"
    return ["list"]


@case("plugin-broken-recipe-used", r"unknown recipe 'shiny'", True)
def _(w):  # not strict: the plugin is skipped with a warning, and its recipe is then unknown
    write_plugin(w.root / "site", "shiny_plugin", "import no_such_dependency\n", entry_name="shiny")
    w.plugin_paths.append(w.root / "site")
    return w.train(recipe="shiny")


