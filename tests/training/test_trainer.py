from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo import runs
from zoo.runs import checkpoint
from zoo.errors import UsageError, ZooError
from zoo.training.trainer import BatchOrder, ResumeRequest, TrainOptions, TrainRequest, resume, train

TINY = ("generator_width=16", "discriminator_width=16", "latent_dim=16")


def tiny_options(**kw) -> TrainOptions:
    return TrainOptions(**{"batch_size": 32, "log_every": 5, "sample_every": 20, "checkpoint_every": 10, "progress": False, **kw})


def metrics(run_dir: Path) -> list[dict]:
    """The per-interval training lines (not the diversity and warning events)."""
    lines = [json.loads(line) for line in (run_dir / runs.METRICS).read_text().splitlines()]
    return [line for line in lines if "event" not in line]


def test_dcgan_trains_on_digits_with_finite_losses_and_varied_samples(runs_dir):
    result = train(TrainRequest("dcgan", overrides=TINY, device="cpu", options=tiny_options(steps=60)))
    assert result.step == 60 and not result.interrupted
    logged = metrics(result.run_dir)
    assert [m["step"] for m in logged] == list(range(5, 65, 5))
    assert all(torch.isfinite(torch.tensor([m["loss_d"], m["loss_g"]])).all() for m in logged)
    assert all(m["images_per_s"] > 0 for m in logged)
    images = zoo.load_run(result.run_dir).sample(16, seed=0)
    assert images.shape == (16, 1, 16, 16)
    assert images.std(dim=0).mean() > 0.01, "all samples look the same"
    assert images.std() > 0.03, "samples are flat"
    assert sorted(p.name for p in (result.run_dir / "samples").iterdir()) == ["step-00000020.png", "step-00000040.png", "step-00000060.png"]
    record = runs.read_config(result.run_dir)
    assert record["model"] == "dcgan" and record["seed"] == 0 and record["torch_version"] == torch.__version__
    assert record["config"]["latent_dim"] == 16 and record["dataset"]["spec"] == {"channels": 1, "height": 16, "width": 16, "num_classes": 10, "frames": 0}
    assert list((result.run_dir / "tensorboard").glob("events.out.tfevents.*")), "tensorboard is installed in dev"
    # keep_checkpoints=2: the newest two survive
    assert [step for step, _ in checkpoint.list_checkpoints(result.run_dir)] == [50, 60]


def test_dcgan_trains_on_the_real_mnist_test_set(runs_dir, mnist_dir):
    result = train(TrainRequest("dcgan", dataset="mnist", data_dir=mnist_dir, overrides=TINY, device="cpu", options=tiny_options(steps=6)))
    record = runs.read_config(result.run_dir)
    assert record["dataset"]["split"] == "train" and "only its test split" in record["dataset"]["note"]
    assert record["dataset"]["size"] == 9000
    assert zoo.load_run(result.run_dir).sample(4, seed=0).shape == (4, 1, 28, 28)


def test_resume_continues_with_the_losses_of_an_uninterrupted_run(runs_dir):
    full = train(TrainRequest("dcgan", overrides=TINY, device="cpu", options=tiny_options(steps=30)))
    half = train(TrainRequest("dcgan", overrides=TINY, device="cpu", options=tiny_options(steps=15, checkpoint_every=100)))
    resumed = resume(ResumeRequest(half.run_dir, steps=30, device="cpu", progress=False))
    assert resumed.step == 30
    strip = lambda ms: [{k: v for k, v in m.items() if k not in ("time", "images_per_s")} for m in ms]  # noqa: E731
    assert strip(metrics(half.run_dir)) == strip(metrics(full.run_dir))
    assert torch.equal(zoo.load_run(half.run_dir).sample(8, seed=1), zoo.load_run(full.run_dir).sample(8, seed=1))


def test_resume_of_a_finished_run_asks_for_more_steps(runs_dir):
    done = train(TrainRequest("dcgan", overrides=TINY, device="cpu", options=tiny_options(steps=5)))
    with pytest.raises(UsageError, match="already at step 5; pass --steps larger"):
        resume(ResumeRequest(done.run_dir, device="cpu", progress=False))


def test_epochs_count_whole_passes_over_the_data(runs_dir):
    result = train(TrainRequest("dcgan", overrides=TINY, device="cpu", options=tiny_options(epochs=1, batch_size=256)))
    assert result.step == 1617 // 256


def test_batch_order_is_a_seeded_permutation_per_epoch():
    order = BatchOrder(10, 3, seed=1)
    epoch1 = torch.cat([order.indices(s) for s in (1, 2, 3)])
    assert len(set(epoch1.tolist())) == 9
    assert torch.equal(BatchOrder(10, 3, seed=1).indices(5), order.indices(5))
    assert not torch.equal(BatchOrder(10, 3, seed=2).indices(1), BatchOrder(10, 3, seed=1).indices(1))
    with pytest.raises(UsageError, match="fewer than --batch-size"):
        BatchOrder(10, 11, seed=0)


def _train_process(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ZOO_RUNS_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "zoo", "train", "dcgan", "--log-every", "2", "--no-progress", *sum((["--set", s] for s in TINY), []), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_log(run_dirs: Path, process: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while not list(run_dirs.glob("dcgan/*/metrics.jsonl")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)


def _stopped_by(signum: int, run_dirs: Path) -> Path:
    """A 100000-step run sent ``signum`` once it has logged: it exits 128 + signum, cleanly; its folder."""
    process = _train_process(run_dirs, "--steps", "100000", "--device", "cpu")
    _wait_for_log(run_dirs, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "interrupted at step" in stderr
    return Path(stdout.strip())


@pytest.mark.battery("signals")
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = _stopped_by(signal.SIGINT, tmp_path)  # exit 130
    step, _ = checkpoint.latest_checkpoint(run_dir)
    assert 0 < step < 100000
    assert zoo.load_run(run_dir).sample(2, seed=0).shape == (2, 1, 16, 16)


def _losses_at(run_dir: Path, step: int) -> dict[str, float]:
    line = next(entry for entry in metrics(run_dir) if entry["step"] == step)
    return {key: value for key, value in line.items() if key.startswith("loss")}


@pytest.mark.battery("signals")
def test_sigterm_saves_a_checkpoint_exits_143_and_the_resumed_run_equals_an_uninterrupted_one(tmp_path):
    # all three runs in processes of the same settings (one thread each), so only the stop differs
    whole = _train_process(tmp_path / "whole", "--steps", "40", "--device", "cpu")
    stdout, stderr = whole.communicate(timeout=300)
    assert whole.returncode == 0, stderr
    whole_dir = Path(stdout.strip())

    run_dir = _stopped_by(signal.SIGTERM, tmp_path / "stopped")  # exit 143
    step, _ = checkpoint.latest_checkpoint(run_dir)
    assert 0 < step < 38, f"stopped at step {step}: the test needs it early"

    # asked for 100000 steps, stopped, resumed to 40: the log line at step 40 is the 40-step run's
    env = {**os.environ, "ZOO_RUNS_DIR": str(tmp_path / "stopped"), "OMP_NUM_THREADS": "1"}
    resumed = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "dcgan", "--resume", str(run_dir), "--steps", "40", "--device", "cpu", "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert _losses_at(run_dir, 40) == _losses_at(whole_dir, 40), "the same losses at step 40"


@pytest.mark.battery("concurrency")
def test_a_second_resume_of_a_run_being_trained_is_refused(tmp_path):
    process = _train_process(tmp_path, "--steps", "100000", "--device", "cpu", "--checkpoint-every", "2")
    try:
        _wait_for_log(tmp_path, process)
        run_dir = next(tmp_path.glob("dcgan/*"))
        deadline = time.time() + 60
        while not checkpoint.list_checkpoints(run_dir) and time.time() < deadline:
            time.sleep(0.2)
        with pytest.raises(ZooError, match="is in use by another process"):
            resume(ResumeRequest(run_dir, steps=200000, device="cpu", progress=False))
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
    assert process.returncode == 130
