"""``classifier:<dataset>``: a small CNN trained by zoo on a dataset's labelled train split.

On MNIST-like data the literature measures FID in the feature space of a domain classifier
rather than of ImageNet's Inception. ``zoo features train --dataset mnist`` trains one from a
seed and caches it (see :func:`zoo.features.cache_root`) as ``model.safetensors`` plus
``config.json``: the dataset, both splits and their sizes, the seed and epochs, the
accuracy on the held-out split, and the scale that gives the features unit root-mean-square
over the train split. ``classifier:mnist`` then loads it; its penultimate layer
(128 units) gives the features and its output layer the class logits (for the IS).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from zoo import atomic, tensor_files
from zoo.datasets.source import in_order
from zoo.digest import sha256_of
from zoo.errors import UsageError, ZooError
from zoo.features.extractor import FeatureExtractor, fit_images

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FEATURES = 128


class DigitCNN(nn.Module):
    """Two conv blocks (two 3x3 convolutions and a 2x2 max-pool each), then 128 features."""

    def __init__(self, channels: int, height: int, width: int, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(64 * (height // 4) * (width // 4), FEATURES), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(FEATURES, num_classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] -> (features (N, 128), logits (N, classes))."""
        features = self.body(images)
        return features, self.head(features)


@dataclasses.dataclass
class TrainedClassifier:
    path: Path
    record: dict[str, Any]


TRAIN_BATCH_SIZE, TRAIN_LR = 128, 1e-3
"""Adam's batch and peak rate (one-cycle schedule): the classifier every cached FID was measured with."""

def classifier_dir(dataset: str, cache_dir: Path | None = None) -> Path:
    from zoo.features import cache_root

    safe = dataset.replace("/", "_").replace(":", "_")
    return (cache_dir or cache_root() / "features") / f"classifier-{safe}"


def train_classifier(
    dataset: str,
    *,
    data_dir: str | Path | None = None,
    epochs: int = 10,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> TrainedClassifier:
    """Train on ``dataset``'s train split, measure on its test split, cache both results."""
    from tqdm.auto import tqdm

    batch_size, lr = TRAIN_BATCH_SIZE, TRAIN_LR

    from zoo.datasets import canonical_name, load_dataset

    dataset = canonical_name(dataset)  # folder:PATH keyed by its absolute path, wherever it is run from
    train = load_dataset(dataset, split="train", data_dir=data_dir)
    if train.labels is None or train.num_classes < 2:
        raise UsageError(f"dataset {dataset!r} has no class labels, so zoo cannot train a classifier on it; use --features inception")
    test = load_dataset(dataset, split="test", data_dir=data_dir)
    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)
    spec = train.spec
    model = DigitCNN(spec.channels, spec.height, spec.width, train.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(train) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    with tqdm(total=steps, disable=not progress, unit="step", desc="classifier") as bar:
        for _ in range(epochs):
            order = torch.randperm(len(train), generator=order_rng)
            for i in range(0, len(order) - batch_size + 1, batch_size):
                batch = train.batch(order[i : i + batch_size])
                loss = F.cross_entropy(model(batch.images)[1], batch.labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    accuracy = _accuracy(model, test)
    # ReLU features of a small CNN run to tens; KID's cubic kernel (x.y / d + 1)^3 would then
    # give values in the hundreds. Scaled to unit root-mean-square over the train split, they
    # are of the order Inception's pool features are.
    with torch.no_grad():
        squares = sum(model(batch.images)[0].pow(2).sum().item() for batch in in_order(train, 500))
    feature_scale = 1.0 / max(1e-12, (squares / (len(train) * FEATURES)) ** 0.5)

    import zoo

    out = classifier_dir(dataset, cache_dir)
    record = {
        "extractor": f"classifier:{dataset}",
        "dataset": dataset,
        "shape": list(spec.shape),
        "num_classes": train.num_classes,
        "features": FEATURES,
        "feature_scale": feature_scale,
        "train_split": {"name": train.split, "n": len(train), "note": train.note},
        "heldout_split": {"name": test.split, "n": len(test), "note": test.note},
        "heldout_accuracy": round(accuracy, 5),
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "zoo_version": zoo.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    with atomic.atomic_dir(out) as tmp:
        tensor_files.save({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / WEIGHTS)
        record["sha256"] = sha256_of(tmp / WEIGHTS)
        (tmp / CONFIG).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return TrainedClassifier(out, record)


def _accuracy(model: DigitCNN, data) -> float:
    correct = 0
    with torch.no_grad():
        for batch in in_order(data, 500):
            correct += (model(batch.images)[1].argmax(1) == batch.labels).sum().item()
    return correct / len(data)


def record_name(argument: str | None) -> str:
    return argument or "DATASET"


class ClassifierFeatures(FeatureExtractor):
    summary: ClassVar[str] = "a CNN zoo trains on the dataset's labelled train split (zoo features train --dataset D)"
    takes_argument: ClassVar[bool] = True

    def __init__(self, model: DigitCNN, record: dict[str, Any]) -> None:
        self.model = model.eval()
        self.record = record
        self.name = record["extractor"]
        self.num_features = record["features"]
        self.feature_scale = float(record["feature_scale"])
        train, heldout = record["train_split"], record["heldout_split"]
        self.description = (
            f"CNN trained by zoo on {record['dataset']} {train['name']} ({train['n']:,} images, seed {record['seed']}); "
            f"{100 * record['heldout_accuracy']:.2f}% accurate on {record['dataset']} {heldout['name']} ({heldout['n']:,} images)"
        )

    @classmethod
    def open(cls, argument: str | None, weights: Path | None, cache_dir: Path | None = None) -> "ClassifierFeatures":
        folder = weights if weights is not None else classifier_dir(argument or "", cache_dir)
        if not (folder / WEIGHTS).is_file():
            raise UsageError(
                f"no trained classifier for {argument!r} in {folder}; train one with "
                f"`zoo features train --dataset {argument}` (plus --data-dir for datasets read from files)"
            )
        try:
            record = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
            model = DigitCNN(*record["shape"], record["num_classes"])
            model.load_state_dict(load_file(str(folder / WEIGHTS)))
            return cls(model, record)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ZooError(
                f"the classifier in {folder} is damaged or from an older zoo ({type(exc).__name__}: {exc}); "
                f"train it again with `zoo features train --dataset {record_name(argument)}`"
            ) from None

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = fit_images(images, *self.record["shape"])
        with torch.no_grad():
            features, logits = self.model(images)
        return features * self.feature_scale, logits
