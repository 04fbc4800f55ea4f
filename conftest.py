"""Shared test set-up: Postgate's public fixtures for every test folder, and hypothesis profiles."""

import os

from hypothesis import settings

#: ``HYPOTHESIS_PROFILE=ci`` (exported by .ci/run): the same generated examples on every run of the
#: same code, so a CI result can be reproduced with ``bash .ci/run``; ``make test`` alone draws new
#: examples on every run and keeps failing ones in ``.hypothesis/``.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytest_plugins = ["postgate.testing.fixtures", "postgate.testing.aws"]
