"""Which GAN recipes train stably: dcgan, wgan-gp, sngan, and dcgan with EMA and DiffAugment.

Each recipe is trained through zoo's own trainer for the same number of *generator* steps
(wgan-gp takes n_critic = 5 critic steps per generator step, so 5x the trainer steps) on
each dataset, over several seeds. Until the sample-quality metrics of the evaluation issue
land, a run is judged by figures that need no Inception network:

* diversity: mean pairwise distance of 256 samples over that of 256 real images (1 is the
  data's own spread; near 0 is collapse);
* confidence: a small CNN classifier, trained here on the dataset's train split, gives its
  mean top-class probability on the samples (high when samples look like some digit);
* coverage: how many of the 10 classes receive at least 5% of the samples (10 is all modes);
* diverged: runs the trainer stopped on a non-finite loss or parameter; collapsed: runs with
  a ``low_diversity`` or ``discriminator_pinned`` warning in their ``metrics.jsonl``;
* wall time per run.

Not a test. The defaults (digits and MNIST, 3 seeds, 1000 generator steps) take about an hour
on 2 CPU cores; ``--steps``, ``--seeds`` and ``--datasets`` make it shorter.

    python benchmarks/gan_stability.py [--steps 1000] [--seeds 3] [--datasets digits,mnist]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zoo import runs
from zoo.datasets import load_dataset
from zoo.training.guards import Diverged, mean_pairwise_distance
from zoo.training.trainer import TrainOptions, TrainRequest, train

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
SAMPLES = 256
RECIPES = {
    "dcgan": ("dcgan", (), 1),
    "wgan-gp": ("wgan-gp", (), 5),
    "sngan": ("sngan", (), 1),
    "dcgan + EMA + DiffAugment": ("dcgan", ("ema_decay=0.999", "diffaugment=translation,cutout"), 1),
}


class DigitClassifier(nn.Module):
    """Two conv layers and a linear head: enough for ~98% on MNIST-like digits."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (side // 4) ** 2, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_classifier(dataset: str, data_dir: Path | None) -> tuple[DigitClassifier, float]:
    """Trained on the train split; returns the classifier and its held-out test accuracy."""
    torch.manual_seed(0)
    train_set = load_dataset(dataset, split="train", data_dir=data_dir)
    test_set = load_dataset(dataset, split="test", data_dir=data_dir)
    model = DigitClassifier(train_set.spec.height)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(5):
        order = torch.randperm(len(train_set))
        for i in range(0, len(order) - 63, 64):
            batch = train_set.batch(order[i : i + 64])
            loss = F.cross_entropy(model(batch.images), batch.labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        test = test_set.batch(torch.arange(len(test_set)))
        accuracy = (model(test.images).argmax(1) == test.labels).float().mean().item()
    return model, accuracy


def judge(samples: torch.Tensor, classifier: DigitClassifier, data_diversity: float) -> dict[str, float]:
    with torch.no_grad():
        probabilities = classifier(samples).softmax(1)
    counts = torch.bincount(probabilities.argmax(1), minlength=10).float() / len(samples)
    return {
        "diversity": mean_pairwise_distance(samples) / data_diversity,
        "confidence": probabilities.max(1).values.mean().item(),
        "coverage": int((counts >= 0.05).sum()),
    }


def run_recipe(recipe: str, dataset: str, data_dir: Path | None, seed: int, generator_steps: int, runs_dir: Path) -> dict:
    model, overrides, n_critic = RECIPES[recipe]
    options = TrainOptions(steps=generator_steps * n_critic, seed=seed, progress=False, sample_every=10**9, checkpoint_every=10**9)
    start = time.perf_counter()
    try:
        result = train(TrainRequest(model, dataset=dataset, data_dir=data_dir, overrides=list(overrides), runs_dir=runs_dir, options=options))
    except Diverged:
        return {"diverged": True, "collapsed": False, "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    lines = [json.loads(line) for line in (result.run_dir / runs.METRICS).read_text().splitlines()]
    warned = any(line.get("event") == "warning" for line in lines)
    samples = runs.load(result.run_dir).sample(SAMPLES, seed=1234)
    return {"diverged": False, "collapsed": warned, "seconds": seconds, "samples": samples}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


HEADER = (
    f"{'dataset':<8} {'recipe':<27} {'diverged':>8} {'collapsed':>9} {'diversity':>13} "
    f"{'confidence':>13} {'coverage /10':>13} {'wall s':>7}"
)


def format_row(row: tuple, seeds: int) -> str:
    dataset, recipe, diverged, collapsed, diversity, confidence, coverage, seconds = row
    return (
        f"{dataset:<8} {recipe:<27} {f'{diverged}/{seeds}':>8} {f'{collapsed}/{seeds}':>9} "
        f"{diversity:>13} {confidence:>13} {coverage:>13} {seconds:>7.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="generator steps per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default="digits,mnist")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma list of: " + ", ".join(RECIPES))
    args = parser.parse_args()

    rows = []
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            data_dir = MNIST_DIR if dataset == "mnist" else None
            classifier, accuracy = train_classifier(dataset, data_dir)
            real = load_dataset(dataset, split="test", data_dir=data_dir)
            data_diversity = mean_pairwise_distance(real.batch(torch.arange(min(SAMPLES, len(real)))).images)
            print(f"{dataset}: classifier accuracy on the held-out test split {accuracy:.3f}", flush=True)
            for recipe in args.recipes.split(","):
                outcomes = [run_recipe(recipe, dataset, data_dir, seed, args.steps, Path(tmp)) for seed in range(args.seeds)]
                judged = [judge(o["samples"], classifier, data_diversity) for o in outcomes if "samples" in o]
                rows.append(
                    (
                        dataset,
                        recipe,
                        sum(o["diverged"] for o in outcomes),
                        sum(o["collapsed"] for o in outcomes),
                        mean_std([j["diversity"] for j in judged]),
                        mean_std([j["confidence"] for j in judged]),
                        mean_std([j["coverage"] for j in judged]),
                        statistics.mean(o["seconds"] for o in outcomes),
                    )
                )
                # Each row as soon as it is measured, so a stopped run still leaves its figures.
                print(format_row(rows[-1], args.seeds), flush=True)

    print(f"\n{args.steps} generator steps per run, {args.seeds} seeds, batch 64, CPU; mean ± std over the seeds that finished")
    print(HEADER)
    for row in rows:
        print(format_row(row, args.seeds))


if __name__ == "__main__":
    main()
