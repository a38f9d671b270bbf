"""Datasets at scale: prepare time, peak RSS against the set's size, loader speed, streaming
against in-memory training, and resume equality on a streamed set. One table.

A procedural, seeded folder of colour JPEGs at 64 x 64 in ten class subfolders (each class a
hue; each image a few random discs and bars on a noisy ground) is written at 20,000 and at
200,000 images, prepared with ``zoo data prepare``, and trained on with ``zoo train dcgan``
as real subprocesses (``OMP_NUM_THREADS=1``, so the measurement is one trainer thread plus
the loader's workers). Peak RSS is ``ru_maxrss`` of the trainer and its workers, read by a
wrapper process that starts nothing else.

Targets (printed beside the figures):
  * peak RSS streaming 200,000 images within 10% of streaming 20,000 (it must not grow with the set);
  * training images/s streaming / in memory on the 20,000 set >= 0.9;
  * loader images/s well above what the trainer consumes;
  * a streamed run stopped and resumed has exactly the uninterrupted run's losses.

    python benchmarks/data_scale.py [--sizes 20000 200000] [--steps 200] [--work DIR] [--quick]

Writes ``benchmarks/results/data_scale.json`` and prints the table. Not a test: it takes about
half an hour of two cores, most of it writing and preparing the 200,000 JPEGs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "data_scale.json"
SIZE, CLASSES = 64, 10
RSS_SCRIPT = """
import resource, subprocess, sys
done = subprocess.run([sys.executable, "-m", "zoo", *sys.argv[1:]], capture_output=True, text=True)
sys.stderr.write(done.stderr)
print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else "")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


def write_folder(root: Path, count: int, seed: int = 0) -> float:
    """``count`` JPEGs in CLASSES subfolders; seconds taken. Image i depends on (seed, i) only."""
    from PIL import Image, ImageDraw

    started = time.perf_counter()
    for c in range(CLASSES):
        (root / f"class-{c}").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        c = i % CLASSES
        hue = np.array([np.cos(2 * np.pi * c / CLASSES), np.cos(2 * np.pi * (c / CLASSES - 1 / 3)), np.cos(2 * np.pi * (c / CLASSES + 1 / 3))])
        base = 128 + 100 * hue
        ground = base * rng.uniform(0.3, 0.6) + rng.normal(0, 12, (SIZE, SIZE, 3)) + 20 * np.sin(xx / rng.uniform(4, 12))[..., None]
        image = Image.fromarray(ground.clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.integers(1, 4)):
            x, y, r = rng.integers(8, 56), rng.integers(8, 56), rng.integers(4, 14)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in (base * rng.uniform(0.8, 1.0)).clip(0, 255)))
        if rng.random() < 0.5:
            x = rng.integers(0, 56)
            draw.rectangle((x, 0, x + rng.integers(2, 8), SIZE), fill=tuple(int(v) for v in (255 - base).clip(0, 255)))
        image.save(root / f"class-{c}" / f"{i:07d}.jpg", quality=90)
    return time.perf_counter() - started


def zoo(*args: str, rss: bool = False) -> tuple[str, float, float]:
    """``zoo ARGS`` in a subprocess: (its last stdout line, seconds, peak RSS in MB or 0)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    if rss:
        done = subprocess.run([sys.executable, "-c", RSS_SCRIPT, *args], capture_output=True, text=True, env=env)
    else:
        done = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"zoo {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    if rss:
        return lines[-2], seconds, int(lines[-1]) / 1024
    return lines[-1], seconds, 0.0


def training_lines(run_dir: Path) -> list[dict]:
    return [m for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "event" not in m]


def train_speed(run_dir: Path) -> float:
    """Images/s over the run, leaving out the first logging interval (warm-up)."""
    speeds = [m["images_per_s"] for m in training_lines(run_dir)[1:] if m.get("images_per_s")]
    return float(np.median(speeds))


def loader_speed(prepared: Path, batches: int, batch_size: int) -> float:
    """Images/s the streamed loader delivers on its own, in the trainer's batch order."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = f"""
import time, torch
from zoo.datasets import load_dataset
from zoo.training.trainer import BatchOrder
data = load_dataset("prepared:{prepared}", residency="stream")
order = BatchOrder(len(data), {batch_size}, 0)
it = data.batches(order.indices(s) for s in range(1, {batches} + 1))
next(it)
start = time.perf_counter()
n = sum(b.images.shape[0] for b in it)
print(n / (time.perf_counter() - start))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--work", type=Path, default=Path("/tmp/zoo-data-scale"))
    parser.add_argument("--quick", action="store_true", help="A smoke run: 2,000 and 4,000 images, 40 steps.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated folders and shards.")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.steps = [2_000, 4_000], 40
    small = min(args.sizes)
    args.work.mkdir(parents=True, exist_ok=True)
    runs_dir = args.work / "runs"
    def training(steps: int) -> list[str]:
        return ["train", "dcgan", "--steps", str(steps), "--batch-size", str(args.batch_size), "--seed", "0", "--log-every", "10",
                "--sample-every", str(10 * args.steps), "--device", "cpu", "--no-progress", "--runs-dir", str(runs_dir)]

    train = training(args.steps)
    rows: dict[str, dict] = {}
    for count in sorted(set(args.sizes)):
        folder, out = args.work / f"jpegs-{count}", args.work / f"prepared-{count}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        written = write_folder(folder, count)
        _, prepare_s, _ = zoo("data", "prepare", f"folder:{folder}", "--out", str(out))
        manifest = json.loads((out / "zoo-dataset.json").read_text())
        run, _, rss = zoo(*train, "--dataset", f"prepared:{out}", "--stream", rss=True)
        rows[str(count)] = {
            "images": count,
            "train_images": manifest["splits"]["train"]["count"],
            "jpeg_mb": sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 2**20,
            "prepared_mb": sum(f["bytes"] for f in manifest["files"].values()) / 2**20,
            "write_jpegs_s": written,
            "prepare_s": prepare_s,
            "prepare_images_per_s": count / prepare_s,
            "stream_peak_rss_mb": rss,
            "stream_train_images_per_s": train_speed(Path(run)),
        }
        if count == small:
            memory_run, _, memory_rss = zoo(*train, "--dataset", f"prepared:{out}", "--data-in-memory", rss=True)
            rows[str(count)] |= {
                "memory_peak_rss_mb": memory_rss,
                "memory_train_images_per_s": train_speed(Path(memory_run)),
                "loader_images_per_s": loader_speed(out, 100, args.batch_size),
            }
            stopped, _, _ = zoo(*training(args.steps // 2), "--dataset", f"prepared:{out}", "--stream")
            zoo("train", "dcgan", "--resume", stopped, "--steps", str(args.steps), "--device", "cpu", "--no-progress")
            strip = lambda lines: [{k: v for k, v in m.items() if k not in ("time", "images_per_s")} for m in lines]  # noqa: E731
            rows[str(count)]["resume_equal"] = strip(training_lines(Path(stopped))) == strip(training_lines(Path(run)))
        print(json.dumps(rows[str(count)]), flush=True)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
    import torch

    import zoo as zoo_package

    result = {
        "rows": rows,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "zoo_version": zoo_package.__version__,
        "torch": torch.__version__,
        "commit": subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
    }
    if not args.quick:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


def table(result: dict) -> str:
    rows = result["rows"]
    sizes = sorted(rows, key=int)
    small, large = rows[sizes[0]], rows[sizes[-1]]
    lines = ["| measure | " + " | ".join(f"{int(s):,} images" for s in sizes) + " | target |", "| --- |" + " --- |" * (len(sizes) + 1)]

    def row(label: str, key: str, fmt: str, target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(format(rows[s][key], fmt) if key in rows[s] else "-" for s in sizes) + f" | {target} |")

    row("JPEG folder (MB)", "jpeg_mb", ",.0f")
    row("prepared shards (MB)", "prepared_mb", ",.0f")
    row("zoo data prepare (s)", "prepare_s", ",.1f")
    row("prepare (images/s)", "prepare_images_per_s", ",.0f")
    row(f"peak RSS, dcgan {result['steps']} steps streamed (MB)", "stream_peak_rss_mb", ",.0f")
    row("peak RSS, the same in memory (MB)", "memory_peak_rss_mb", ",.0f")
    row("training images/s, streamed", "stream_train_images_per_s", ",.0f")
    row("training images/s, in memory", "memory_train_images_per_s", ",.0f")
    row("loader alone, images/s", "loader_images_per_s", ",.0f")
    growth = large["stream_peak_rss_mb"] / small["stream_peak_rss_mb"]
    lines.append(f"| **RSS streamed, largest / smallest** | {growth:.3f} | | <= 1.10: {'pass' if growth <= 1.10 else 'FAIL'} |")
    speed = small["stream_train_images_per_s"] / small["memory_train_images_per_s"]
    lines.append(f"| **training streamed / in memory** | {speed:.3f} | | >= 0.90: {'pass' if speed >= 0.9 else 'FAIL'} |")
    headroom = small["loader_images_per_s"] / small["stream_train_images_per_s"]
    lines.append(f"| **loader / trainer consumption** | {headroom:.1f} | | > 1: {'pass' if headroom > 1 else 'FAIL'} |")
    lines.append(f"| **resumed streamed run equals uninterrupted** | {small['resume_equal']} | | True |")
    return "\n".join(lines) + f"\n({result['cpus']} CPUs, torch {result['torch']}, {result['commit']}, {result['date']})"


if __name__ == "__main__":
    main()
