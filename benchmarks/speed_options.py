"""What each speed option buys, model by model: ``zoo bench`` over several plugins, one table.

For each model (default: dcgan, sngan, vae, draw) this trains a short run on the embedded
digits (``--steps``, 300 by default), then measures it with :func:`zoo.tools.bench.bench`, the code
behind ``zoo bench NAME``, and prints one row per model:

* sampling at ``--batch`` (64): PyTorch eager fp32 images/s, and each ONNX variant's
  images/s as a ratio to it (fp32, optimised, fp16, int8);
* training at the run's batch: fp32 images/s, and channels-last, bf16 and fp16 as ratios to it.

A variant that cannot run here (fp16 without a GPU, bf16 or fp16 training without native
support, an int8 file that fails its quality check) shows ``-``; ``zoo bench NAME --run DIR``
on the printed run says why. Not a test: run it on a quiet machine, ideally with one thread
(``OMP_NUM_THREADS=1``), as the ratios of one run are only comparable with each other.

    python benchmarks/speed_options.py [--models dcgan,vae] [--steps 300] [--batch 64] [--device auto]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from zoo.tools.bench import BenchRequest, bench
from zoo.training.trainer import TrainOptions, TrainRequest, train

SAMPLING = ("onnx fp32", "onnx optimised", "onnx fp16", "onnx int8")
TRAINING = ("fp32 + channels_last", "bf16", "fp16")


def ratio(rows: dict, key: tuple[str, str]) -> str:
    row = rows.get(key)
    return "-" if row is None or row.ratio is None else f"{row.ratio:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dcgan,sngan,vae,draw", help="comma-separated model names")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each benchmarked run")
    parser.add_argument("--batch", type=int, default=64, help="sampling batch size")
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per measurement")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            print(f"{name}: training {args.steps} steps on digits ...", flush=True)
            options = TrainOptions(steps=args.steps, progress=False, sample_every=args.steps, checkpoint_every=args.steps)
            run = train(TrainRequest(name, device=args.device, runs_dir=scratch, options=options)).run_dir
            print(f"{name}: measuring ...", flush=True)
            rows = bench(BenchRequest(name, run=run, batches=(args.batch,), min_seconds=args.seconds, device=args.device))
            results[name] = {(r.section, r.what): r for r in rows}

    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; sampling at batch {args.batch}, ratios to eager fp32; training ratios to fp32")
    header = f"{'model':<10} {'eager img/s':>11} " + " ".join(f"{w.removeprefix('onnx '):>9}" for w in SAMPLING)
    header += f"  {'train img/s':>11} " + " ".join(f"{w.removeprefix('fp32 + '):>13}" for w in TRAINING)
    print(header)
    for name, rows in results.items():
        eager = rows[("sampling", "pytorch eager fp32")].images_per_s
        fp32 = rows[("training", "fp32")]
        line = f"{name:<10} {eager:>11.1f} " + " ".join(f"{ratio(rows, ('sampling', w)):>9}" for w in SAMPLING)
        line += f"  {fp32.images_per_s:>11.1f} "
        line += " ".join(f"{ratio(rows, ('training', w)):>13}" for w in TRAINING)
        print(line)


if __name__ == "__main__":
    main()
