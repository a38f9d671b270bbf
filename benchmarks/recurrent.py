"""The recurrent generators on one CPU budget: DRAW with and without attention, and ConvLSTM
against the baselines any forecaster must clear.

DRAW: both variants train through ``zoo.training.trainer.train`` for the same number of steps (batch 64,
seed 0) on MNIST (``--data-dir``, the shared test set carved 9,000/1,000) or the embedded
digits, with the plugin's defaults except ``attention``; both are scored by
``zoo.evaluation.likelihood.evaluate_likelihood`` on the test split (dynamically binarised with seed 0):
the negative ELBO and the IWAE bound with ``--k`` samples, in nats per image.

ConvLSTM: trains for ``--convlstm-steps`` steps (batch 16) on ``moving-digits`` (64x64, 20
frames: 10 given, 10 predicted), then forecasts ``--sequences`` test sequences, scored by
``zoo.evaluation.forecast``: per predicted frame, summed over its pixels. Beside it, two baselines that
learn nothing: copy-last-frame (nothing moves) and a blank frame (everything left). A
forecaster that only blurs can beat copy-last on far frames; the blank row says how far that
gets. Ratios are to the copy-last row. Not a test.

    python benchmarks/recurrent.py [--draw-steps 1000] [--convlstm-steps 500] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from zoo import runs
from zoo.evaluation import forecast
from zoo import sequences
from zoo.datasets import load_dataset
from zoo.evaluation.likelihood import evaluate_likelihood
from zoo.training.trainer import TrainOptions, TrainRequest, train

ROOT = Path(__file__).resolve().parents[1]


def parameters(model) -> int:
    return sum(p.numel() for module in model.modules.values() for p in module.parameters())


def train_and_load(name: str, steps: int, batch_size: int, runs_dir: str, **kwargs):
    start = time.perf_counter()
    result = train(TrainRequest(name, device="cpu", runs_dir=runs_dir, options=TrainOptions(steps=steps, batch_size=batch_size, progress=False), **kwargs))
    seconds = time.perf_counter() - start
    return runs.load(result.run_dir).model, seconds


def draw_rows(args: argparse.Namespace, runs_dir: str) -> list[str]:
    dataset = "mnist" if args.data_dir else "digits"
    data_dir = args.data_dir or None
    test = load_dataset(dataset, split="test", data_dir=data_dir, image_size=28)
    rows = []
    for attention in (True, False):
        model, seconds = train_and_load(
            "draw", args.draw_steps, 64, runs_dir, dataset=dataset, data_dir=data_dir, image_size=28, overrides=[f"attention={attention}"]
        )
        score = evaluate_likelihood(model, test, k=args.k, binarization="dynamic", seed=0, progress=False)
        rows.append((f"draw, attention={attention}", parameters(model), seconds, score.neg_elbo, score.iwae_nll))
    base = rows[1][3]
    lines = [
        f"DRAW on {dataset} 28x28: {args.draw_steps} steps of 64, T = 16; test split {len(test):,} images, binarised once (seed 0)",
        f"{'model':<24} {'params':>9} {'train s':>8} {'s/step':>7} {'test -ELBO':>11} {f'IWAE (k={args.k})':>13} {'-ELBO ratio':>12}",
    ]
    for name, count, seconds, elbo, iwae in rows:
        lines.append(f"{name:<24} {count:>9,} {seconds:>8.0f} {seconds / args.draw_steps:>7.3f} {elbo:>11.2f} {iwae:>13.2f} {elbo / base:>12.3f}")
    lines.append("(-ELBO ratio: to draw without attention; lower is better. The paper, T = 64 and far longer training: 80.97 with attention, 87.40 without)")
    return lines


def convlstm_rows(args: argparse.Namespace, runs_dir: str) -> list[str]:
    model, seconds = train_and_load("convlstm", args.convlstm_steps, 16, runs_dir, dataset="moving-digits")
    test = load_dataset("moving-digits", split="test")
    frames = test.batch(torch.arange(args.sequences)).images
    context, target = sequences.split(frames, model.context_frames)
    horizon = target.shape[1]
    predictions = {
        "convlstm": model.predict(context),
        "copy-last frame": forecast.copy_last(context, horizon),
        "blank frame": torch.zeros_like(target),
    }
    errors = {name: forecast.frame_errors(p, target) for name, p in predictions.items()}
    base = errors["copy-last frame"]
    lines = [
        f"ConvLSTM on moving-digits 64x64: {args.convlstm_steps} steps of 16 sequences ({seconds:.0f} s, {seconds / args.convlstm_steps:.2f} s/step, "
        f"{parameters(model):,} params); {args.sequences} test sequences, {model.context_frames} frames given, {horizon} predicted",
        f"{'forecast':<16} {'MSE t+1':>8} {'MSE t+10':>9} {'MSE mean':>9} {'BCE mean':>9} {'MSE ratio':>10} {'BCE ratio':>10}",
    ]
    for name, e in errors.items():
        mse, bce = e["mse"].mean(0), e["bce"].mean(0)
        lines.append(
            f"{name:<16} {mse[0]:>8.2f} {mse[-1]:>9.2f} {mse.mean():>9.2f} {bce.mean():>9.2f} "
            f"{mse.mean() / base['mse'].mean():>10.3f} {bce.mean() / base['bce'].mean():>10.3f}"
        )
    lines.append(f"(per frame, summed over its 4,096 pixels; BCE in nats with predictions clamped to [{forecast.EPSILON:g}, {1 - forecast.EPSILON:g}]; ratios to copy-last)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draw-steps", type=int, default=1000)
    parser.add_argument("--convlstm-steps", type=int, default=500)
    parser.add_argument("--k", type=int, default=100, help="importance samples per test image for DRAW's IWAE bound")
    parser.add_argument("--sequences", type=int, default=500, help="test sequences ConvLSTM forecasts")
    default_mnist = ROOT.parent / "shared" / "data" / "mnist"
    parser.add_argument("--data-dir", default=str(default_mnist) if default_mnist.is_dir() else "", help="MNIST idx files ('' for the embedded digits)")
    parser.add_argument("--only", choices=("draw", "convlstm"), default=None)
    args = parser.parse_args()

    print(f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as runs_dir:
        if args.only in (None, "draw"):
            print("\n".join(draw_rows(args, runs_dir)))
        if args.only is None:
            print()
        if args.only in (None, "convlstm"):
            print("\n".join(convlstm_rows(args, runs_dir)))


if __name__ == "__main__":
    main()
