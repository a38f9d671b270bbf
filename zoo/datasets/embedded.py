"""Datasets that ship inside installed packages, so they work offline with no ``--data-dir``."""

from __future__ import annotations

import numpy as np
import torch

from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest, to_uint8_images


class Digits(DatasetSource):
    """scikit-learn's 1,797 handwritten digits, 8x8 greyscale, labelled 0-9.

    The set has no official split, so a fixed one is used: the images are shuffled by
    ``numpy.random.RandomState(0).permutation`` (a legacy stream numpy keeps stable across
    versions) and the last 180 of that order are ``test``, the other 1,617 ``train``.
    """

    name = "digits"
    labelled = True
    summary = "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes); no download"
    default_size = 16
    default_channels = 1
    needs_data_dir = False

    test_size = 180
    seed = 0

    def load(self, request: LoadRequest) -> ImageSet:
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.RandomState(self.seed).permutation(len(digits.images))
        index = order[-self.test_size :] if request.split == "test" else order[: -self.test_size]
        # pixel values are counts 0..16; floats in [0, 1] let the resize work before rounding
        pixels = torch.from_numpy(digits.images[index] / 16.0).unsqueeze(1)
        labels = torch.from_numpy(digits.target[index]).to(torch.int64)
        images = to_uint8_images(pixels, request.image_size, request.channels)
        return ImageSet(self.name, request.split, images, labels, num_classes=10)


class LFWSubset(DatasetSource):
    """The 100 face images of scikit-image's ``lfw_subset``, 25x25 greyscale, unlabelled.

    ``skimage.data.lfw_subset()`` holds 200 crops: the first 100 are faces, the last 100
    are not, and only the faces are kept. The split is fixed by position: the first 90
    faces are ``train``, the last 10 ``test``.
    """

    name = "lfw-subset"
    labelled = False
    summary = "scikit-image's bundled 100 greyscale 25x25 face crops from LFW; no download"
    default_size = 32
    default_channels = 1
    needs_data_dir = False

    faces = 100
    train_size = 90

    def load(self, request: LoadRequest) -> ImageSet:
        from skimage.data import lfw_subset

        faces = lfw_subset()[: self.faces]  # float64 in [0, 1]
        chosen = faces[self.train_size :] if request.split == "test" else faces[: self.train_size]
        images = to_uint8_images(torch.from_numpy(chosen).unsqueeze(1), request.image_size, request.channels)
        return ImageSet(self.name, request.split, images)
