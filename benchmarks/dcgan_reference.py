"""zoo's dcgan against the DCGAN recipe of the PyTorch examples repository, on MNIST.

The reference is written out below from the recipe in pytorch/examples (``dcgan/main.py``):
images resized to 64 x 64 and scaled to [-1, 1]; nz = 100, ngf = ndf = 64; a generator of
five transposed convolutions (BatchNorm + ReLU, tanh) and a discriminator of five strided
convolutions (LeakyReLU 0.2, BatchNorm but on the first, sigmoid); weights from N(0, 0.02),
BatchNorm scales from N(1, 0.02); Adam(2e-4, betas 0.5, 0.999) for both; binary
cross-entropy, the discriminator seeing a real batch and then a fake batch, the generator
trained to make D say "real". zoo's dcgan is the same family at the data's own 28 x 28
(see ``plugins/dcgan``), trained by zoo's trainer.

Both train on the same 9,000 MNIST images (the train part of ``../shared/data/mnist``) for
the same number of generator steps at batch 64, and both are scored by the same extractor,
``classifier:mnist`` (trained here unless cached), with ``n`` samples against the 1,000
held-out test images, beside the real-vs-real floor (two halves of those 1,000).

    python benchmarks/dcgan_reference.py [--steps 1000] [-n 5000] [--grids DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from zoo import runs
from zoo.datasets import load_dataset
from zoo.errors import ZooError
from zoo.features import get_extractor
from zoo.features.classifier import ClassifierFeatures, train_classifier
from zoo.images import save_grid
from zoo.sample_quality import extract, image_batches, real_floor, sample_quality
from zoo.trainer import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
METRICS = ["fid", "kid", "is", "prdc"]
NZ, NGF, NDF, SIDE = 100, 64, 64, 64


class ReferenceGenerator(nn.Module):
    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, channels, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class ReferenceDiscriminator(nn.Module):
    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.main(images).view(-1)


def weights_init(m: nn.Module) -> None:
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def train_reference(steps: int, seed: int) -> tuple[ReferenceGenerator, float]:
    """The examples' training loop, for ``steps`` generator steps; returns G and wall seconds."""
    torch.manual_seed(seed)
    data = load_dataset("mnist", split="train", data_dir=MNIST_DIR, image_size=SIDE)
    netG, netD = ReferenceGenerator(), ReferenceDiscriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    start, step = time.perf_counter(), 0
    while step < steps:
        order = torch.randperm(len(data))
        for i in range(0, len(order) - 63, 64):
            real = data.batch(order[i : i + 64]).images * 2 - 1
            batch = len(real)
            # (1) D: maximise log D(x) + log(1 - D(G(z)))
            netD.zero_grad()
            errD_real = criterion(netD(real), torch.full((batch,), 1.0))
            errD_real.backward()
            fake = netG(torch.randn(batch, NZ, 1, 1))
            errD_fake = criterion(netD(fake.detach()), torch.full((batch,), 0.0))
            errD_fake.backward()
            optimizerD.step()
            # (2) G: maximise log D(G(z))
            netG.zero_grad()
            errG = criterion(netD(fake), torch.full((batch,), 1.0))
            errG.backward()
            optimizerG.step()
            step += 1
            if step == steps:
                break
    return netG, time.perf_counter() - start


def classifier() -> ClassifierFeatures:
    try:
        return get_extractor("classifier:mnist")
    except ZooError:  # none cached (or an outdated one): train it here
        trained = train_classifier("mnist", data_dir=MNIST_DIR, cache_dir=Path(tempfile.mkdtemp()), progress=False)
        return ClassifierFeatures.open("mnist", trained.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="generator steps for each model")
    parser.add_argument("-n", type=int, default=5000, help="samples per model for the metrics")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids", default=None, help="folder to write a 64-sample grid of each model into")
    args = parser.parse_args()

    extractor = classifier()
    print(f"features: {extractor.name}: {extractor.description}", flush=True)
    test = load_dataset("mnist", split="test", data_dir=MNIST_DIR)
    real = extract(extractor, iter(test.batch(torch.arange(len(test))).images.split(500)), len(test), desc="real", progress=False)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(steps=args.steps, seed=args.seed, progress=False, sample_every=10**9, checkpoint_every=10**9)
        start = time.perf_counter()
        result = train("dcgan", dataset="mnist", data_dir=MNIST_DIR, runs_dir=tmp, options=options)
        ours_seconds = time.perf_counter() - start
        ours = runs.load(result.run_dir).model

        def draw_ours(count: int, index: int) -> torch.Tensor:
            return ours.sample(count, seed=args.seed * 1_000_003 + index)

        fake = extract(extractor, image_batches(draw_ours, args.n, 250), args.n, desc="zoo dcgan", progress=False)
        if args.grids:
            save_grid(draw_ours(64, 0), Path(args.grids) / "zoo_dcgan.png")
        rows.append(("zoo dcgan (28 x 28)", ours_seconds, sample_quality(real, fake, METRICS, seed=args.seed)))
        print("  zoo dcgan: done", flush=True)

    netG, ref_seconds = train_reference(args.steps, args.seed)

    def draw_reference(count: int, index: int) -> torch.Tensor:
        # The examples draw their samples in training mode (BatchNorm on the batch's own
        # statistics, here batches of 250); they never switch the generator to eval().
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + index)
        with torch.no_grad():
            return (netG(torch.randn(count, NZ, 1, 1, generator=generator)) + 1) / 2

    fake = extract(extractor, image_batches(draw_reference, args.n, 250), args.n, desc="reference", progress=False)
    if args.grids:
        save_grid(draw_reference(64, 0), Path(args.grids) / "reference_dcgan.png")
    rows.append(("PyTorch examples DCGAN (64 x 64)", ref_seconds, sample_quality(real, fake, METRICS, seed=args.seed)))
    floor = real_floor(real, METRICS, seed=args.seed)
    rows.append((f"real vs real (floor, {len(real) // 2} a side)", None, floor))

    print(
        f"\n{args.steps} generator steps at batch 64 on the 9,000 MNIST train images, CPU; {args.n:,} samples against the "
        f"{len(real):,} test images in {extractor.name} features; KID over 100 subsets; PRDC with k = 5 on equal numbers"
    )
    print(f"{'model':<34} {'train s':>8} {'FID':>8} {'KID':>17} {'IS':>12} {'precision':>9} {'recall':>6} {'density':>7} {'coverage':>8}")
    for label, seconds, m in rows:
        wall = f"{seconds:.0f}" if seconds is not None else "-"
        print(
            f"{label:<34} {wall:>8} {m['fid']:>8.3f} {m['kid_mean']:>8.4f} ± {m['kid_std']:.4f} "
            f"{m['is_mean']:>5.2f} ± {m['is_std']:.2f} {m['precision']:>9.3f} {m['recall']:>6.3f} {m['density']:>7.3f} {m['coverage']:>8.3f}"
        )


if __name__ == "__main__":
    main()
