"""Deprecated alias of :mod:`zoo.training.trainer` (the training loop and its options), kept for one release."""

import warnings

from zoo.training.trainer import *  # noqa: F403

warnings.warn("zoo.trainer moved to zoo.training.trainer; the old name goes in the next release", DeprecationWarning, stacklevel=2)
