"""The ``genkit`` command line: a click group whose commands are imported only when run.

Errors a user can cause arrive as ``GenkitError`` and leave as one ``Error: ...`` line and a non-zero
exit code; ``--debug`` (or ``GENKIT_DEBUG=1``) shows the traceback instead. Plugins add commands
through the ``register_commands`` hook.
"""

from __future__ import annotations

import difflib
import os
import sys

import click

from genkit import __version__, deprecation, lazy
from genkit.contract.blame import blame
from genkit.contract.hookspecs import API_VERSION
from genkit.environment import env_flag
from genkit.errors import GenkitError

# name -> "module:attribute"; modules are imported only when the command runs or its help is shown.
BUILTIN_COMMANDS = {
    "plugins": "genkit.commands.installed:plugins_command",
    "list": "genkit.commands.installed:list_command",
    "summary": "genkit.commands.summary:summary_command",
    "train": "genkit.commands.train:train_command",
    "data": "genkit.commands.data:data_group",
    "export": "genkit.commands.export:export_command",
    "generate": "genkit.commands.inference:generate_command",
    "reconstruct": "genkit.commands.inference:reconstruct_command",
    "encode": "genkit.commands.inference:encode_command",
    "evaluate": "genkit.commands.evaluate:evaluate_command",
    "plot": "genkit.commands.plot:plot_command",
    "report": "genkit.commands.report:report_command",
    "bench": "genkit.commands.bench:bench_command",
}

SHORT_HELP = {
    "plugins": "Show installed plugins, their hooks and registrations.",
    "list": "List registered components, recipes and datasets.",
    "summary": "Print a recipe's layers, output shapes and parameter counts.",
    "train": "Train a model recipe into a run folder.",
    "data": "Download and inspect datasets.",
    "export": "Export a run to ONNX encoder and decoder graphs.",
    "generate": "Decode images from the prior into a PNG grid.",
    "reconstruct": "Show images above their reconstructions.",
    "encode": "Encode a dataset split into latent codes (.npy).",
    "evaluate": "Loss terms, reconstruction and generation quality.",
    "plot": "Draw one of the book's analysis figures.",
    "report": "All figures and metrics of one or two runs in an HTML page.",
    "bench": "Run the benchmark suite.",
}


def debug_enabled() -> bool:
    return env_flag("GENKIT_DEBUG")


class GenkitGroup(click.Group):
    """Lazy built-in commands, plugin commands, and one-line errors."""

    _plugin_commands_loaded = False

    def main(self, *args, **kwargs):
        deprecation.show_as_lines()  # before any plugin is imported: their authors must see what to change
        return super().main(*args, **kwargs)

    def _load_plugin_commands(self) -> None:
        if GenkitGroup._plugin_commands_loaded:
            return
        GenkitGroup._plugin_commands_loaded = True
        from genkit.contract.host import get_host

        try:
            get_host().register_commands(self, reserved=BUILTIN_COMMANDS)
        except GenkitError as exc:  # strict mode
            if debug_enabled():
                raise
            raise click.ClickException(str(exc)) from None

    def load_plugin_commands(self) -> None:
        """Run every plugin's ``register_commands`` hook (once), e.g. so ``genkit plugins`` can show them."""
        self._load_plugin_commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted({*BUILTIN_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in BUILTIN_COMMANDS:
            module = BUILTIN_COMMANDS[name].partition(":")[0]
            try:
                return lazy.resolve(BUILTIN_COMMANDS[name])
            except ModuleNotFoundError as exc:
                if exc.name == module:
                    return None
                if debug_enabled():
                    raise
                # a missing dependency (torch in a runtime-only environment, say) is one line, not a trace
                raise click.ClickException(
                    f"`genkit {name}` needs the Python package {exc.name!r}, which is not installed"
                ) from None
        self._load_plugin_commands()
        return self.commands.get(name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            # click says "No such command"; add the closest name, as unknown registry names do.
            name = args[0] if args else ""
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            if close and not name.startswith("-"):
                exc.message = f"{exc.message} Did you mean {close[0]!r}?"
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help for the root lists commands without importing them (importing would pull in torch).
        self._load_plugin_commands()
        rows = [(name, SHORT_HELP[name]) for name in BUILTIN_COMMANDS]
        rows += [(name, cmd.get_short_help_str(60)) for name, cmd in sorted(self.commands.items())
                 if name not in BUILTIN_COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context):
        try:
            return self._invoke_leaving_nothing(ctx)
        except GenkitError as exc:
            if debug_enabled():
                raise
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            # a plugin component that raised is named in one line; anything else is a bug and keeps its traceback
            line = None if debug_enabled() else blame(exc)
            if line is None:
                raise
            raise click.ClickException(line) from None

    def _invoke_leaving_nothing(self, ctx: click.Context):
        """Run the command; when it fails, remove the folders it made above its outputs."""
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if not (isinstance(exc, SystemExit) and not exc.code) and not isinstance(exc, click.exceptions.Exit):
                from genkit.files.outputs import remove_made_parents

                remove_made_parents()
            raise


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # Eager, so that it is set before plugin commands are loaded to resolve the command name.
    if value:
        os.environ["GENKIT_DEBUG"] = "1"


@click.group(cls=GenkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genkit",
                      message=f"%(prog)s %(version)s (plugin API {API_VERSION})")
@click.option("--debug", is_flag=True, is_eager=True, expose_value=False, callback=_set_debug,
              help="Show tracebacks (also of plugin failures) instead of one-line errors; or GENKIT_DEBUG=1.")
def cli() -> None:
    """genkit: generative models from plugins: train, export to ONNX, evaluate, benchmark.

    \b
    Environment:
      GENKIT_DISABLE_PLUGINS=a,b  do not load these plugins (entry-point or distribution names)
      GENKIT_STRICT_PLUGINS=1     a plugin that fails to load is an error, not a warning
      GENKIT_DEBUG=1              like --debug
    """


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="genkit")
    except GenkitError as exc:  # raised outside a command's invoke (e.g. while loading plugins)
        if debug_enabled():
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
