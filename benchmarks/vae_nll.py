"""Test-set likelihood of zoo's ``vae`` against the PyTorch examples' reference VAE.

The reference is the MLP VAE of pytorch/examples ``vae/main.py``, written out in
``recipes/vae.py`` (shared with ``reference_recipes.py``): fc1 D->400 ReLU, fc21/fc22 400->20 (posterior mean and log-variance), fc3 20->400 ReLU,
fc4 400->D sigmoid (D = C*H*W, 784 on MNIST), trained on binary cross-entropy summed over
pixels plus the analytic KL, Adam lr 1e-3, batch 128. Both models

* train on the same train split for the same number of epochs at batch 128 from the same
  seed, zoo's through ``zoo.training.trainer.train`` and the reference in its own plain loop, both
  on dynamically binarised images (each step every pixel is drawn afresh from
  Bernoulli(intensity), as zoo's VAE does), so both fit the same binary data;
* are scored on the test split by the same ``zoo.evaluation.likelihood.evaluate_likelihood``: the
  negative ELBO and the IWAE bound on -log p(x) with k importance samples, in nats per
  image and bits/dim, on test images binarised once with seed 0.

Train time is wall-clock; zoo's includes what its trainer does besides the steps (loading
the data, metrics, the final sample grid and checkpoint). Lower NLL is better. Not a test.

    python benchmarks/vae_nll.py [--epochs 10] [--k 1000] [--dataset mnist|digits] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from zoo import runs
from zoo.contract import LikelihoodModel
from zoo.datasets import load_dataset
from zoo.device import pick_device
from zoo.evaluation.likelihood import LikelihoodResult, evaluate_likelihood
from zoo.training.trainer import TrainOptions, TrainRequest, train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the recipes/ folder beside this script
from recipes import vae as reference_vae  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 128


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
        result = train(TrainRequest(
            "vae", dataset=args.dataset, data_dir=data_dir, device=str(device), runs_dir=runs_dir, options=options
        ))
        zoo_seconds = time.perf_counter() - start
        zoo_model = runs.load(result.run_dir, device=device).model

    start = time.perf_counter()
    # the same steps as zoo's trainer takes: whole batches only
    reference = reference_vae.train(train_set.images, args.epochs * (len(train_set) // BATCH_SIZE), args.seed, device, BATCH_SIZE)
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
        f"evaluation: zoo.evaluation.likelihood.evaluate_likelihood, test images {zoo_score.binarization}; "
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
