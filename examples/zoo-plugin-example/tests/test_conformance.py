"""The zoo conformance kit, run on this package's plugin: one test per check."""

from zoo.testing import conformance_suite

test_mlp_gan_conforms = conformance_suite("mlp-gan")
