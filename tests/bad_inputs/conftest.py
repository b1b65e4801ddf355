"""Fixtures of the clean-failure tests: the good run and export, and the unwritable places."""

from bad_inputs.fixtures import good_cvae_export, good_export, good_run  # noqa: F401  (fixtures)
from bad_inputs.places import place  # noqa: F401  (fixture)
