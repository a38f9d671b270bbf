"""Deprecated alias of :mod:`zoo.tools.latent` (the latent-space verbs), kept for one release."""

import warnings

from zoo.tools.latent import *  # noqa: F403

warnings.warn("zoo.latent moved to zoo.tools.latent; the old name goes in the next release", DeprecationWarning, stacklevel=2)
