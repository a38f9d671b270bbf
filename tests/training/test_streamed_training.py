"""Training on a prepared set streamed from its shards: the same losses as in memory, on two
processes (gloo) resumed as if never stopped, and memory that does not grow with the set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import run_zoo
from zoo import runs
from zoo.datasets import prepared

TINY = ["--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16"]


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "digits"
    prepared.prepare("digits", out)  # 1,617 train and 180 test images, 16 x 16 greyscale
    return out


def losses(run_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / runs.METRICS).read_text().splitlines()]
    return [{k: v for k, v in m.items() if k.startswith(("loss", "d_"))} | {"step": m["step"]} for m in lines if "event" not in m]


def train(zoo_cli, *args: str) -> Path:
    result = zoo_cli("train", "dcgan", "--seed", "0", "--batch-size", "8", "--log-every", "2", "--no-progress", *TINY, *args)
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip())


def test_streamed_training_has_the_in_memory_runs_losses(digits_dir: Path, runs_dir: Path, zoo_cli) -> None:
    memory = train(zoo_cli, "--dataset", f"prepared:{digits_dir}", "--data-in-memory", "--steps", "6")
    streamed = train(zoo_cli, "--dataset", f"prepared:{digits_dir}", "--stream", "--steps", "6")
    plain = train(zoo_cli, "--dataset", "digits", "--steps", "6")
    assert losses(streamed) == losses(memory) == losses(plain) and len(losses(plain)) == 3
    record = runs.read_record(streamed)
    assert record.dataset.residency == "stream" and "streamed from its shards" in record.dataset.note
    assert "held in memory" in runs.read_record(memory).dataset.note


def test_two_processes_streaming_then_resumed_match_an_uninterrupted_run(digits_dir: Path, runs_dir: Path) -> None:
    def zoo(*args: str) -> Path:
        result = run_zoo(
            "train", "dcgan", "--nproc", "2", "--device", "cpu", "--no-progress", *args,
            env={"OMP_NUM_THREADS": "1"}, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-4000:]
        return Path(result.stdout.strip().splitlines()[-1])

    common = ["--dataset", f"prepared:{digits_dir}", "--stream", "--seed", "0", "--batch-size", "8", "--log-every", "2", *TINY]
    whole = zoo(*common, "--steps", "8")
    stopped = zoo(*common, "--steps", "4")
    resumed = zoo("--resume", str(stopped), "--steps", "8")
    assert resumed == stopped
    assert [m["step"] for m in losses(whole)] == [2, 4, 6, 8]
    assert losses(resumed) == losses(whole)


RSS_SCRIPT = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "zoo", *sys.argv[1:]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB: the largest process, workers included
"""


def peak_rss_mb(*args: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, *args], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return int(out.stdout.strip()) / 1024


def test_a_set_larger_than_the_memory_cap_trains_streamed_within_it(tmp_path: Path, runs_dir: Path) -> None:
    big = tmp_path / "digits-192"
    manifest = prepared.prepare("digits", big, image_size=192, channels=3)
    pixels_mb = manifest.splits["train"].count * 3 * 192 * 192 / 2**20  # 179 MB; the test split is 20
    # litdata maps the shards it reads: the trainer and each worker hold a few 16 MB ones
    # (prepared.CHUNK_BYTES), whatever the set's size. Measured growth: 20 to 59 MB.
    cap_mb = 80.0
    assert pixels_mb > 2 * cap_mb
    common = ["train", "dcgan", "--dataset", f"prepared:{big}", "--steps", "10", "--batch-size", "8", "--device", "cpu", "--no-progress", *TINY]
    small = peak_rss_mb(*common, "--split", "test", "--stream")
    streamed = peak_rss_mb(*common, "--stream")
    in_memory = peak_rss_mb(*common, "--data-in-memory")
    assert streamed - small < cap_mb, f"streaming {pixels_mb:.0f} MB grew the peak RSS by {streamed - small:.0f} MB"
    assert in_memory - small > pixels_mb * 0.8, "the measurement sees the set when it is held in memory"
