"""The published recipes zoo's models are held to, one module each, written out from their sources.

Nothing here imports a zoo model: a reference must not inherit a bug it is meant to catch.
Each module gives its citation in ``SOURCE`` and a ``train(images, steps, seed, device)``
that returns something ``benchmarks/reference_recipes.py`` can score with zoo's evaluators:
a sampler ``draw(count, seed) -> images in [0, 1]`` for a GAN, a ``LikelihoodModel`` for the VAE.
``images`` are the training images as a uint8 tensor (N, C, H, W).
"""
