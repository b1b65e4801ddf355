"""``python -m benchmarks`` from the repository root (``genkit bench`` runs the same thing)."""

import sys

from genkit.errors import GenkitError

from .runner import main

try:
    sys.exit(main())
except GenkitError as exc:  # a results folder that cannot be written: one line, as from `genkit bench`
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
