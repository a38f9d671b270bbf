"""Training throughput of the zoo trainer against the compute-only ceiling.

For DCGAN on `digits` and MNIST at batch 64 and 256, this measures images/s of

* trainer: ``zoo.training.trainer.Trainer.run`` as ``zoo train`` runs it, default intervals
  (batch drawing from the in-memory dataset, progress, metrics JSONL, TensorBoard when
  installed, the sample grid and checkpoint at the end);
* ceiling: the same model's ``train_step`` called in a bare loop on one pre-made batch,

and prints one table with their ratio. The trainer's overhead should stay under 10%
(ratio >= 0.90). Not a test: run it on a quiet machine.

    python benchmarks/train_speed.py [--steps 100] [--repeats 2] [--mnist-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from zoo.datasets import load_dataset
from zoo.device import pick_device
from zoo.models import get_model
from zoo.training.trainer import Trainer, TrainOptions

ROOT = Path(__file__).resolve().parents[1]


def build(plugin, spec, device, seed: int = 0):
    torch.manual_seed(seed)
    return plugin.build(plugin.Config(), spec, device)


def ceiling(plugin, data, device, batch_size: int, steps: int) -> float:
    model = build(plugin, data.spec, device)
    batch = data.batch(torch.arange(batch_size))
    batch.images = batch.images.to(device)
    for step in range(1, 4):  # warm-up: allocator, kernels
        model.train_step(batch, step)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        model.train_step(batch, step)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def trainer(plugin, data, device, batch_size: int, steps: int, workdir: Path) -> float:
    model = build(plugin, data.spec, device)
    warm = data.batch(torch.arange(batch_size))
    warm.images = warm.images.to(device)
    for step in range(1, 4):  # the same warm-up as the ceiling gets
        model.train_step(warm, step)
    run_dir = workdir / plugin.name  # the loop's files only: no verb reads this run back
    run_dir.mkdir(parents=True, exist_ok=True)
    # zoo train's default intervals. Every run ends with a sample grid and a checkpoint, so a
    # short benchmark run pays a larger share of them than a default 2000-step run does.
    options = TrainOptions(steps=steps, batch_size=batch_size, progress=False)
    loop = Trainer(model, data, run_dir, options)
    start = time.perf_counter()
    loop.run(0)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many measurements")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--mnist-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    args = parser.parse_args()

    device = pick_device(args.device)
    plugin = get_model("dcgan")
    datasets = {"digits": load_dataset("digits")}
    if Path(args.mnist_dir).is_dir():
        datasets["mnist"] = load_dataset("mnist", data_dir=args.mnist_dir)
    else:
        print(f"(MNIST not found at {args.mnist_dir}; measuring digits only)")

    print(f"DCGAN training throughput on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{'dataset':<8} {'shape':<12} {'batch':>5} {'ceiling img/s':>14} {'trainer img/s':>14} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as workdir:
        for name, data in datasets.items():
            for batch_size in (64, 256):
                # Interleaved, best of each: a slow spell on a shared machine hits both alike.
                best_ceiling = best_trainer = 0.0
                for _ in range(args.repeats):
                    best_ceiling = max(best_ceiling, ceiling(plugin, data, device, batch_size, args.steps))
                    best_trainer = max(best_trainer, trainer(plugin, data, device, batch_size, args.steps, Path(workdir)))
                shape = "x".join(map(str, data.spec.shape))
                print(
                    f"{name:<8} {shape:<12} {batch_size:>5} {best_ceiling:>14.0f} {best_trainer:>14.0f} "
                    f"{best_trainer / best_ceiling:>6.2f}"
                )


if __name__ == "__main__":
    main()
