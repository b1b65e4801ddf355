"""``python -m benchmarks`` from the repository root (``genkit bench`` runs the same thing)."""

import sys

from .runner import main

sys.exit(main())
