"""``genkit bench``: the benchmark suite (``python -m benchmarks``) through the command line.

Every argument goes to the suite's own parser, so ``genkit bench --help`` lists its options. The suite
ships as the package ``genkit_benchmarks`` (the repository's ``benchmarks/`` folder).
"""

from __future__ import annotations

import click


@click.command("bench", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(args):
    """Run the benchmark suite: genkit bench [NAMES...] [--quick] (see genkit bench --help)."""
    try:
        from genkit_benchmarks.runner import main
    except ImportError as exc:
        raise click.ClickException(f"the benchmark suite is not installed ({exc}); from a checkout of the "
                                   f"repository run `pip install -e .` or `python -m benchmarks`") from None
    raise SystemExit(main(list(args), prog="genkit bench"))
