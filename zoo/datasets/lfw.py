"""Labeled Faces in the Wild, read through torchvision's ``LFWPeople`` (text lists and JPEGs, no pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest, one_line
from zoo.errors import ZooError


class LFW(DatasetSource):
    """Labeled Faces in the Wild (funneled), through ``torchvision.datasets.LFWPeople``.

    Each 250x250 photo is cropped to its central 128x128 pixels, which hold the face (the
    rest is background and shoulders), then resized. Identities are not used as labels:
    most people have one image, so the set is treated as unlabelled. torchvision can no
    longer download LFW, so the files must be put in place by hand.
    """

    name = "lfw"
    labelled = False
    summary = "Labeled Faces in the Wild, face crops in colour, unlabelled (torchvision's lfw-py under --data-dir)"
    default_size = 64
    default_channels = 3

    crop_fraction = 128 / 250

    def load(self, request: LoadRequest) -> ImageSet:
        from torchvision import datasets

        data_dir = request.local_dir(self.name)
        try:
            lfw = datasets.LFWPeople(root=str(data_dir), split=request.split)
        except (RuntimeError, OSError) as exc:
            expected = data_dir / "lfw-py"
            why = "torchvision can no longer download LFW; " if request.download else ""
            raise ZooError(
                f"LFW not found or corrupt in {expected}/: {why}put lfw-funneled.tgz, its extracted lfw_funneled/, "
                f"lfw-names.txt, peopleDevTrain.txt and peopleDevTest.txt there "
                f"(e.g. from https://www.kaggle.com/datasets/jessicali9530/lfw-dataset)"
            ) from exc
        out = np.empty((len(lfw.data), request.image_size, request.image_size, request.channels), dtype=np.uint8)
        for i, path in enumerate(lfw.data):
            out[i] = self._face(Path(path), request.image_size, request.channels)
        images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
        return ImageSet(self.name, request.split, images)

    def _face(self, path: Path, image_size: int, channels: int) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("RGB" if channels == 3 else "L")
        except OSError as exc:  # missing file, or UnidentifiedImageError
            raise ZooError(f"cannot read LFW image {path}: {one_line(exc)}") from exc
        side = round(min(img.size) * self.crop_fraction)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        face = img.crop((left, top, left + side, top + side)).resize((image_size, image_size), Image.Resampling.LANCZOS)
        return np.asarray(face).reshape(image_size, image_size, channels)
