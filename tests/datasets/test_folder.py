"""``folder:PATH``: real PNG/JPEG files written with PIL, then loaded through load_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.datasets import load_dataset
from zoo.errors import ZooError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_reads_recursively_sorted_and_case_insensitive(tmp_path: Path) -> None:
    solid(tmp_path / "z.jpg", BLUE)
    solid(tmp_path / "a.png", RED)
    solid(tmp_path / "b" / "C.PNG", GREEN)
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = load_dataset(f"folder:{tmp_path}", image_size=8)
    assert loaded.images.shape == (3, 3, 8, 8) and loaded.images.dtype == torch.uint8
    assert loaded.labels is None and loaded.spec.num_classes == 0
    # a.png, b/C.PNG, z.jpg: red, green, blue (the JPEG within compression error)
    means = loaded.images.float().mean(dim=(2, 3))
    for image, colour in zip(means, (RED, GREEN, BLUE)):
        assert torch.allclose(image, torch.tensor(colour, dtype=torch.float), atol=4)


def test_default_size_and_channels(tmp_path: Path) -> None:
    solid(tmp_path / "one.png", RED, size=(100, 80))
    loaded = load_dataset(f"folder:{tmp_path}")
    assert loaded.images.shape == (1, 3, 64, 64)


def test_short_side_resize_then_centre_crop(tmp_path: Path) -> None:
    # three vertical bands on a 3:1 image; the centre square is the green band alone
    bands = np.zeros((20, 60, 3), np.uint8)
    bands[:, :20] = RED
    bands[:, 20:40] = GREEN
    bands[:, 40:] = BLUE
    Image.fromarray(bands).save(tmp_path / "bands.png")
    image = load_dataset(f"folder:{tmp_path}", image_size=10).images[0]
    assert image.shape == (3, 10, 10)
    inner = image[:, :, 1:-1].float()  # the outermost columns may blend with the neighbouring bands
    assert inner[1].min() > 200 and inner[0].max() < 40 and inner[2].max() < 40


def test_colour_to_grey_and_grey_to_colour(tmp_path: Path) -> None:
    solid(tmp_path / "colour" / "red.png", RED)
    Image.new("L", (16, 16), 200).save(tmp_path / "grey.png")
    grey = load_dataset(f"folder:{tmp_path / 'colour'}", channels=1, image_size=4).images
    assert grey.shape == (1, 1, 4, 4)
    assert abs(int(grey[0, 0, 0, 0]) - round(0.299 * 255)) <= 1  # luma of pure red
    (tmp_path / "colour" / "red.png").unlink()
    (tmp_path / "grey.png").rename(tmp_path / "colour" / "grey.png")
    colour = load_dataset(f"folder:{tmp_path / 'colour'}", channels=3, image_size=4).images
    assert colour.shape == (1, 3, 4, 4) and bool((colour == 200).all())


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(tmp_path / "deep.png")
    image = load_dataset(f"folder:{tmp_path}", channels=1, image_size=8).images
    assert int(image[0, 0, 0, 0]) == 40000 >> 8


@pytest.mark.battery("datasets")
def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'absent'}")
    solid(tmp_path / "file.png", RED)
    with pytest.raises(ZooError, match="is not a directory"):
        load_dataset(f"folder:{tmp_path / 'file.png'}")


@pytest.mark.battery("datasets")
def test_no_images_lists_extensions(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(ZooError) as info:
        load_dataset(f"folder:{tmp_path}")
    message = str(info.value)
    assert "no images found" in message and ".png" in message and ".jpeg" in message and "\n" not in message


@pytest.mark.battery("datasets")
@pytest.mark.parametrize("content", [b"this is not a png", b"truncated"])
def test_unreadable_image_is_named(tmp_path: Path, content: bytes) -> None:
    solid(tmp_path / "fine.png", RED)
    broken = tmp_path / "broken.png"
    if content == b"truncated":
        solid(broken, GREEN, size=(64, 64))
        broken.write_bytes(broken.read_bytes()[:60])
    else:
        broken.write_bytes(content)
    with pytest.raises(ZooError) as info:
        load_dataset(f"folder:{tmp_path}")
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.battery("datasets")
def test_an_image_announcing_too_many_pixels_is_refused_before_it_is_decoded(tmp_path):
    from zoo.errors import UsageError
    from zoo.runtime import read_frames

    folder = tmp_path / "bomb"
    folder.mkdir()
    Image.new("1", (10_000, 10_000)).save(folder / "huge.png")  # 100 M pixels, a few kB on disk
    assert (folder / "huge.png").stat().st_size < 100_000
    with pytest.raises(ZooError, match="1 of 1 images cannot be read, the first .*huge.png: is 10000 x 10000 pixels, more than the 50,000,000"):
        load_dataset(f"folder:{folder}")
    with pytest.raises(UsageError, match="is 10000 x 10000 pixels"):
        read_frames(folder, 1, 16)
