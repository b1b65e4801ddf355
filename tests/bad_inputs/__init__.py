"""The cases of the bad-input matrix (``tests/test_bad_input.py``), one module per kind of input.

Each case is a function registered with ``@case(name, pattern)`` that builds a broken input inside a
``Workspace`` and returns the ``genkit`` arguments that meet it; the pattern is what the one error
line must match.
"""

from bad_inputs import command_line, configs, data, run_folders  # noqa: F401  (registers the cases)
from bad_inputs.registry import CASES, CONTEXT_LINE, Case, Workspace

__all__ = ["CASES", "CONTEXT_LINE", "Case", "Workspace"]
