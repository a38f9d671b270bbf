"""Deprecated alias of :mod:`zoo.evaluation.likelihood` (the likelihood bounds), kept for one release."""

import warnings

from zoo.evaluation.likelihood import *  # noqa: F403

warnings.warn("zoo.likelihood moved to zoo.evaluation.likelihood; the old name goes in the next release", DeprecationWarning, stacklevel=2)
