"""Test-set likelihood of zoo's ``vae`` against the PyTorch examples' reference VAE.

The reference is the MLP VAE of pytorch/examples ``vae/main.py``, written out here:
fc1 D->400 ReLU, fc21/fc22 400->20 (posterior mean and log-variance), fc3 20->400 ReLU,
fc4 400->D sigmoid (D = C*H*W, 784 on MNIST), trained on binary cross-entropy summed over
pixels plus the analytic KL, Adam lr 1e-3, batch 128. Both models

* train on the same train split for the same number of epochs at batch 128 from the same
  seed, zoo's through ``zoo.trainer.train`` and the reference in its own plain loop, both
  on dynamically binarised images (each step every pixel is drawn afresh from
  Bernoulli(intensity), as zoo's VAE does), so both fit the same binary data;
* are scored on the test split by the same ``zoo.likelihood.evaluate_likelihood``: the
  negative ELBO and the IWAE bound on -log p(x) with k importance samples, in nats per
  image and bits/dim, on test images binarised once with seed 0.

Train time is wall-clock; zoo's includes what its trainer does besides the steps (loading
the data, metrics, the final sample grid and checkpoint). Lower NLL is better. Not a test.

    python benchmarks/vae_nll.py [--epochs 10] [--k 1000] [--dataset mnist|digits] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zoo import runs
from zoo.contract import Batch, DataSpec, ExportGraph, LikelihoodModel
from zoo.datasets import load_dataset
from zoo.datasets.source import ImageSet
from zoo.device import pick_device
from zoo.likelihood import LikelihoodResult, evaluate_likelihood
from zoo.trainer import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 128
LOG_2PI = math.log(2 * math.pi)


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    hidden: int = 400
    latent_dim: int = 20
    lr: float = 1e-3


class ReferenceMLP(nn.Module):
    def __init__(self, dims: int, config: ReferenceConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dims, config.hidden)
        self.fc21 = nn.Linear(config.hidden, config.latent_dim)
        self.fc22 = nn.Linear(config.hidden, config.latent_dim)
        self.fc3 = nn.Linear(config.latent_dim, config.hidden)
        self.fc4 = nn.Linear(config.hidden, dims)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = F.relu(self.fc1(x))
        return self.fc21(hidden), self.fc22(hidden)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        # The example applies a sigmoid and then BCE; scoring the logits is the same model
        # without log(0) when a pixel saturates, which would cap BCE's log at -100.
        return self.fc4(F.relu(self.fc3(z)))


class ReferenceVAE(LikelihoodModel):
    """The pytorch/examples VAE behind zoo's likelihood interface, so zoo's evaluator scores it."""

    pixel_model = "bernoulli"

    def __init__(self, config: ReferenceConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        super().__init__(config, data, device)
        self.dims = data.channels * data.height * data.width
        self.net = ReferenceMLP(self.dims, config).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        self.net.train()
        x = torch.bernoulli(batch.images.flatten(1))
        mean, logvar = self.net.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(self.net.decode_logits(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
        loss = recon + kl  # summed over the batch, as in the example
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"neg_elbo": loss.item() / x.shape[0]}

    @torch.no_grad()
    def log_weights(self, batch: Batch, k: int) -> torch.Tensor:
        self.net.eval()
        x = batch.images.to(self.device).flatten(1)
        mean, logvar = self.net.encode(x)
        z = mean + torch.randn(k, *mean.shape, device=self.device) * torch.exp(0.5 * logvar)  # (k, N, latent)
        logits = self.net.decode_logits(z)  # (k, N, D)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * ((z - mean).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)
        return log_px + log_pz - log_qz

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        self.net.eval()
        z = torch.randn(n, self.config.latent_dim, generator=self.noise_generator(seed))
        return torch.sigmoid(self.net.decode_logits(z.to(self.device))).view(n, *self.data.shape).cpu()

    def export_graphs(self) -> dict[str, ExportGraph]:
        return {}  # only scored here, never exported


def train_reference(data: ImageSet, epochs: int, seed: int, device: torch.device) -> ReferenceVAE:
    torch.manual_seed(seed)
    model = ReferenceVAE(ReferenceConfig(), data.spec, device)
    # Drop the last partial batch, as zoo's trainer does, so both take the same number of steps.
    steps_per_epoch = len(data) // BATCH_SIZE
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for position in range(steps_per_epoch):
            batch = data.batch(order[position * BATCH_SIZE : (position + 1) * BATCH_SIZE])
            step += 1
            model.train_step(Batch(images=batch.images.to(device)), step)
    return model


def parameters(model: LikelihoodModel) -> int:
    return sum(p.numel() for module in model.modules.values() for p in module.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000, help="importance samples per test image")
    parser.add_argument("--seed", type=int, default=0, help="training seed of both models")
    parser.add_argument("--dataset", choices=("mnist", "digits"), default="mnist")
    parser.add_argument("--data-dir", default=str(ROOT / ".." / "shared" / "data" / "mnist"), help="MNIST idx files")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = pick_device(args.device)
    data_dir = args.data_dir if args.dataset == "mnist" else None
    train_set = load_dataset(args.dataset, split="train", data_dir=data_dir)
    test_set = load_dataset(args.dataset, split="test", data_dir=data_dir)

    with tempfile.TemporaryDirectory() as runs_dir:
        start = time.perf_counter()
        options = TrainOptions(epochs=args.epochs, batch_size=BATCH_SIZE, seed=args.seed, progress=False)
        result = train(
            "vae", dataset=args.dataset, data_dir=data_dir, device=str(device), runs_dir=runs_dir, options=options
        )
        zoo_seconds = time.perf_counter() - start
        zoo_model = runs.load(result.run_dir, device=device).model

    start = time.perf_counter()
    reference = train_reference(train_set, args.epochs, args.seed, device)
    reference_seconds = time.perf_counter() - start

    def score(model: LikelihoodModel) -> LikelihoodResult:
        return evaluate_likelihood(model, test_set, k=args.k, binarization="dynamic", seed=0, progress=False)

    zoo_score, reference_score = score(zoo_model), score(reference)

    c, h, w = train_set.spec.shape
    rows = [
        (f"zoo vae (conv, z={zoo_model.latent_dim})", parameters(zoo_model), zoo_seconds, zoo_score),
        (f"reference MLP {reference.dims}-400-20", parameters(reference), reference_seconds, reference_score),
    ]
    print(f"dataset: {args.dataset} {c}x{h}x{w}, train {len(train_set):,} images, test {len(test_set):,} images")
    if train_set.note:
        print(f"  ({train_set.note})")
    print(
        f"training: {args.epochs} epochs, batch {BATCH_SIZE} (last partial batch dropped), seed {args.seed}, "
        f"both on pixels redrawn from Bernoulli(intensity) every step; {device}, {torch.get_num_threads()} threads"
    )
    print(
        f"evaluation: zoo.likelihood.evaluate_likelihood, test images {zoo_score.binarization}; "
        "nats per image, bits/dim of the IWAE NLL"
    )
    iwae = f"IWAE NLL (k={args.k})"
    print(f"{'model':<26} {'params':>9} {'train s':>9} {'test -ELBO':>12} {iwae:>19} {'bits/dim':>9}")
    for name, count, seconds, res in rows:
        print(
            f"{name:<26} {count:>9,} {seconds:>9.1f} {res.neg_elbo:>12.2f} {res.iwae_nll:>19.2f} "
            f"{res.bits_per_dim(res.iwae_nll):>9.4f}"
        )
    (_, ours, our_s, our), (_, theirs, their_s, their) = rows
    iwae_ratio = our.iwae_nll / their.iwae_nll  # also the bits/dim ratio: both divide by the same C*H*W
    print(
        f"{'ratio (vae / reference)':<26} {ours / theirs:>9.2f} {our_s / their_s:>9.2f} "
        f"{our.neg_elbo / their.neg_elbo:>12.3f} {iwae_ratio:>19.3f} {iwae_ratio:>9.3f}"
    )


if __name__ == "__main__":
    main()
