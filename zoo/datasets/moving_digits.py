"""``moving-digits``: Moving MNIST-style sequences made on the fly from any image dataset.

The recipe of Srivastava et al. 2015 ("Unsupervised Learning of Video Representations using
LSTMs"), which Shi et al. 2015 used for ConvLSTM: two digits, each 28/64 of the frame's side,
start at random places and move in a straight line at a fixed speed, bouncing off the edges,
for 20 frames of 64 x 64; where they overlap the brighter pixel wins.

``moving-digits`` takes its digits from the embedded ``digits`` set, so it needs no download;
``moving-digits:mnist --data-dir DIR`` (or any other image dataset) takes them from there. The
train split's sequences use the base dataset's train images, the test split's its test images.

Sequence ``i`` of a split is a pure function of (split, i): its random numbers come from
``numpy.random.RandomState([split seed, i])``, a stream numpy keeps stable across versions.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from zoo.contract import DataSpec
from zoo.datasets.source import DatasetSource, LoadRequest, SequenceSet
from zoo.errors import UsageError

FRAMES = 20
DIGITS_PER_SEQUENCE = 2
DIGIT_FRACTION = 28 / 64
"""A digit's side as a fraction of the frame's: Moving MNIST's 28 of 64 pixels."""
STEP = 0.1
"""Distance moved per frame, as a fraction of the room a digit has to move in (Srivastava's
step_length): 3.6 pixels in a 64-pixel frame."""
SEQUENCES = {"train": 10_000, "test": 1_000}
"""As many as the published Moving MNIST test set holds (10,000); a smaller held-out split."""
SPLIT_SEEDS = {"train": 0, "test": 1}


@dataclasses.dataclass
class MovingDigitsSet(SequenceSet):
    """Sequences of ``DIGITS_PER_SEQUENCE`` digits from ``digits`` (uint8 ``(M, C, d, d)``)
    bouncing in ``size`` x ``size`` frames."""

    name: str
    split: str
    digits: torch.Tensor
    size: int
    length: int
    frames: int = FRAMES
    note: str = ""

    def __post_init__(self) -> None:
        self._digits = self.digits.numpy()

    def __len__(self) -> int:
        return self.length

    @property
    def spec(self) -> DataSpec:
        return DataSpec(channels=self.digits.shape[1], height=self.size, width=self.size, frames=self.frames)

    def frames_at(self, index: torch.Tensor) -> torch.Tensor:
        count, channels, side = len(index), self.digits.shape[1], self.digits.shape[-1]
        out = np.zeros((count, self.frames, channels, self.size, self.size), dtype=np.uint8)
        room = self.size - side
        for row, i in enumerate(index.tolist()):
            if not 0 <= i < self.length:
                raise IndexError(f"sequence {i} is outside {self.name} {self.split} (0..{self.length - 1})")
            rng = np.random.RandomState([SPLIT_SEEDS[self.split], i])
            for _ in range(DIGITS_PER_SEQUENCE):
                digit = self._digits[rng.randint(len(self._digits))]
                for t, (y, x) in enumerate(bouncing_path(rng, self.frames, room)):
                    patch = out[row, t, :, y : y + side, x : x + side]
                    np.maximum(patch, digit, out=patch)
        return torch.from_numpy(out)


def bouncing_path(rng: np.random.RandomState, frames: int, room: int) -> list[tuple[int, int]]:
    """Top-left corners for ``frames`` frames of a digit moving at :data:`STEP` in a random
    direction from a random start, reflected at the edges of ``[0, room]``."""
    y, x = rng.uniform(0, 1, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    vy, vx = np.sin(angle), np.cos(angle)
    path = []
    for _ in range(frames):
        path.append((int(round(y * room)), int(round(x * room))))
        y, x = y + vy * STEP, x + vx * STEP
        if not 0 <= y <= 1:
            y, vy = min(max(y, 0.0), 1.0), -vy
        if not 0 <= x <= 1:
            x, vx = min(max(x, 0.0), 1.0), -vx
    return path


class MovingDigits(DatasetSource):
    name = "moving-digits"
    kind = "sequences"
    labelled = False
    summary = "2 digits bouncing in 64x64 frames, 20 frames a sequence (Moving MNIST recipe); digits by default, moving-digits:mnist for MNIST's"
    default_size = 64
    default_channels = 1
    needs_data_dir = False
    takes_argument = True
    default_argument = "digits"

    def load(self, request: LoadRequest) -> MovingDigitsSet:
        from zoo.datasets import expect_kind, load_dataset

        base = request.argument or self.default_argument
        if base.partition(":")[0] == self.name:
            raise UsageError("moving-digits needs an image dataset to take its digits from, e.g. moving-digits:mnist")
        digit_size = max(2, round(request.image_size * DIGIT_FRACTION))
        digits = load_dataset(
            base, split=request.split, data_dir=request.data_dir, image_size=digit_size, channels=request.channels, download=request.download
        )
        expect_kind(digits, "images")
        note = f"digits from {base} {digits.split} ({len(digits):,} images at {digit_size}x{digit_size})"
        if digits.note:
            note += f"; {digits.note}"
        return MovingDigitsSet(
            name=f"{self.name}:{base}" if base != self.default_argument else self.name,
            split=request.split,
            digits=digits.images,
            size=request.image_size,
            length=SEQUENCES[request.split],
            note=note,
        )
