"""Shared GAN machinery for plugins: the config fields (:mod:`.config`), objectives and penalties
(:mod:`.losses`), DiffAugment (:mod:`.augment`) and the model base with its update step, EMA,
sampling and export (:mod:`.model`)."""
