"""``python -m genkit`` (what torchrun launches) is the ``genkit`` command."""

from genkit.cli import main

main()
