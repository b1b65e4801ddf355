"""The bad-input matrix and the clean-failure tests, one module per kind of input or failure.

Each case of the matrix (``tests/test_bad_input.py``) is a function registered with ``@case(name,
pattern)`` that builds a broken input inside a ``Workspace`` and returns the ``genkit`` arguments that
meet it; the pattern is what the one error line must match. The ``test_*.py`` files here cover the
failures that need more than one command: writes that fail (full or read-only disks, a path under a
file, a folder that does not exist), failed starts, a run killed during its first checkpoint, sizes
that cannot fit in memory, outputs a run finds blocked before its first step, the exporters' own
output, and exports that are not what their metadata and file names say. All of them check a failure with
``harness.assert_fails_cleanly``.
"""

from bad_inputs import command_line, configs, data, overwrites, results, run_folders  # noqa: F401  (registers)
from bad_inputs.registry import CASES, Case, Workspace

__all__ = ["CASES", "Case", "Workspace"]
