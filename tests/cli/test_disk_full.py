"""A write that fails part way (a full disk, a quota, a file-size limit) in every verb that writes:
one error line naming the file and the system's reason, exit 1, no traceback, never the
catch-all, and what was there before (an ``--out`` file, a run's checkpoints) unchanged.

The failure is real: each command runs in a subprocess whose ``RLIMIT_FSIZE`` makes any write
past a few kilobytes fail with EFBIG ("File too large"), the way ENOSPC fails it on a full disk;
SIGXFSZ is ignored so the write returns the error instead of killing the process.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from support import file_digests
from zoo.runs import checkpoint
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=16")
TINY_FLAGS = tuple(flag for pair in (("--set", s) for s in TINY) for flag in pair)
LIMIT = 300
"""Bytes any one file may grow to: below every output written here."""
EXISTING = b"what the user had before; a failed write must leave it as it is"


def zoo_limited(*args: str, limit: int = LIMIT, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        capture_output=True, text=True, cwd=cwd, timeout=300, preexec_fn=limit_file_size,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    )


def assert_failed_write(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 1, the last stderr line the one error line, no traceback, not the catch-all."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception in thread" not in result.stderr, result.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert not errors[0].startswith("error: unexpected"), errors[0]
    for fragment in ("File too large", *fragments):
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Trained dcgan and vae runs, an exported generator, input images and a latent file."""
    from click.testing import CliRunner

    from zoo.cli import cli

    root = tmp_path_factory.mktemp("disk-full")
    runs_dir = root / "runs"
    options = TrainOptions(steps=3, progress=False)
    # one sample per grid, so that a resume's first write over 20 KB is its checkpoint
    dcgan = train(TrainRequest("dcgan", overrides=TINY, device="cpu", runs_dir=runs_dir, options=TrainOptions(steps=3, n_samples=1, progress=False))).run_dir
    vae = train(TrainRequest("vae", device="cpu", runs_dir=runs_dir, options=options)).run_dir
    images = root / "images"
    images.mkdir()
    for i in range(6):
        Image.new("L", (16, 16), 40 * i).save(images / f"{i}.png")
    invoke = CliRunner()
    onnx, latents = root / "g.onnx", root / "codes.safetensors"
    for args in (
        ["export", "dcgan", "--run", str(dcgan), "--onnx", "--out", str(onnx)],
        ["encode", "vae", "--run", str(vae), "--input", str(images), "--out", str(latents)],
    ):
        result = invoke.invoke(cli, args, obj={}, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    return {"runs": runs_dir, "dcgan": dcgan, "vae": vae, "onnx": onnx, "images": images, "latents": latents}


# Each writes one file over LIMIT to --out, which already holds EXISTING.
OUT_VERBS = {
    "sample": lambda m, out: ["sample", "dcgan", "--run", str(m["dcgan"]), "-n", "64", "--out", str(out.with_suffix(".png"))],
    "sample a vae": lambda m, out: ["sample", "vae", "--run", str(m["vae"]), "-n", "64", "--out", str(out.with_suffix(".png"))],
    "generate": lambda m, out: ["generate", str(m["onnx"]), "-n", "64", "--out", str(out.with_suffix(".png"))],
    "export": lambda m, out: ["export", "dcgan", "--run", str(m["dcgan"]), "--onnx", "--out", str(out.with_suffix(".onnx"))],
    "export --optimize": lambda m, out: ["export", "dcgan", "--run", str(m["dcgan"]), "--onnx", "--optimize", "--out", str(out.with_suffix(".onnx"))],
    "reconstruct": lambda m, out: ["reconstruct", "vae", "--run", str(m["vae"]), "--input", str(m["images"]), "--out", str(out.with_suffix(".png"))],
    "interpolate": lambda m, out: ["interpolate", "vae", "--run", str(m["vae"]), "--seeds", "1,2", "--out", str(out.with_suffix(".png"))],
    "traverse": lambda m, out: ["traverse", "vae", "--run", str(m["vae"]), "--out", str(out.with_suffix(".png"))],
    "decode": lambda m, out: ["decode", str(m["latents"]), "--run", str(m["vae"]), "--out", str(out.with_suffix(".png"))],
    "report": lambda m, out: ["report", str(m["dcgan"]), "--out", str(out.with_suffix(".html"))],
}


@pytest.mark.battery("disk full")
@pytest.mark.parametrize("verb", list(OUT_VERBS))
def test_a_failed_write_leaves_the_existing_out_file_as_it_was(made, tmp_path, verb):
    args = OUT_VERBS[verb](made, tmp_path / "out")
    out = Path(args[args.index("--out") + 1])
    out.write_bytes(EXISTING)
    runs_before = file_digests(made["runs"])
    result = zoo_limited(*args, cwd=tmp_path, env={"ZOO_RUNS_DIR": str(made["runs"])})
    assert_failed_write(result)
    assert out.read_bytes() == EXISTING
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name], "no temporary file is left beside it"
    assert file_digests(made["runs"]) == runs_before, "the runs read are unchanged"


@pytest.mark.battery("disk full")
def test_a_new_run_whose_first_checkpoint_cannot_be_written_counts_no_checkpoint(tmp_path):
    runs_dir = tmp_path / "runs"
    result = zoo_limited("train", "dcgan", "--steps", "4", "--n-samples", "1", "--no-progress", "--runs-dir", str(runs_dir), *TINY_FLAGS, limit=20_000, cwd=tmp_path, env={})
    assert_failed_write(result, "safetensors")
    (run,) = (runs_dir / "dcgan").iterdir()
    assert checkpoint.list_checkpoints(run) == []
    assert not list((run / "checkpoints").glob(".step-*")), "the half-written checkpoint is removed"


@pytest.mark.battery("disk full")
def test_a_resumed_run_that_cannot_checkpoint_keeps_its_last_checkpoint(made, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(made["dcgan"], run)
    saved = file_digests(run / "checkpoints")
    result = zoo_limited("train", "dcgan", "--resume", str(run), "--steps", "6", "--no-progress", limit=20_000, cwd=tmp_path, env={})
    assert_failed_write(result, "safetensors")
    assert file_digests(run / "checkpoints") == saved
    again = subprocess.run([sys.executable, "-m", "zoo", "sample", "dcgan", "--run", str(run), "--out", str(tmp_path / "s.png")], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr


@pytest.mark.battery("disk full")
def test_tensorboard_failing_first_is_one_warning_and_no_thread_traceback(tmp_path):
    """The events file grows fastest with a log line every step: it fails first, then metrics.jsonl."""
    runs_dir = tmp_path / "runs"
    result = zoo_limited(
        "train", "dcgan", "--steps", "150", "--log-every", "1", "--n-samples", "1", "--sample-every", "1000",
        "--checkpoint-every", "1000", "--no-progress", "--runs-dir", str(runs_dir), *TINY_FLAGS,
        limit=6000, cwd=tmp_path, env={},
    )
    assert_failed_write(result, "metrics.jsonl")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: TensorBoard logging stopped")]
    assert len(warnings) == 1 and "File too large" in warnings[0], result.stderr


@pytest.mark.battery("disk full")
def test_preparing_a_dataset_that_cannot_be_written_is_one_line(made, tmp_path):
    result = zoo_limited("data", "prepare", f"folder:{made['images']}", "--out", str(tmp_path / "prepared"), cwd=tmp_path, env={})
    assert_failed_write(result)


@pytest.mark.battery("disk full")
def test_a_classifier_that_cannot_be_cached_leaves_no_half_of_one(tmp_path):
    cache = tmp_path / "cache"
    result = zoo_limited("features", "train", "--dataset", "digits", "--epochs", "1", cwd=tmp_path, env={"ZOO_CACHE_DIR": str(cache)})
    assert_failed_write(result, "model.safetensors")
    assert not list(cache.rglob("model.safetensors")) and not list(cache.rglob("config.json"))
