"""Data-parallel training: two real CPU processes with gloo under torchrun, no mocks.

One torchrun launch of ``ddp_worker.py`` trains a tiny dcgan (gradients averaged by an
optimizer step pre-hook) and a tiny vae (by ``replicate``'s DDP hooks) on two processes, in
fp32, in fp16 (where the dcgan's averaging moves ahead of the loss scaler's overflow check),
and the vae compiled (dynamo tracing through DDP's hooks);
the resume test goes through ``zoo train --nproc 2``, which starts torchrun itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from support import assert_one_line_error, run_zoo
from zoo import runs
from zoo.runs import checkpoint
from zoo.training import distributed
from zoo.training.trainer import BatchOrder

WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 8
TINY = {
    "dcgan": ("generator_width=8", "discriminator_width=8", "latent_dim=16"),
    "vae": ("width=8", "hidden=32", "latent_dim=8"),
}
MODELS = {**TINY, "dcgan@fp16": TINY["dcgan"], "vae@fp16": TINY["vae"], "vae@compile": TINY["vae"]}
"""What the worker trains, as NAME[@OPTION]: each into its own runs folder."""
TINY_SET = [a for value in TINY["dcgan"] for a in ("--set", value)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both models trained for STEPS steps on 2 processes, batch 16 each (log 2, sample 4, checkpoint 3)."""
    out = tmp_path_factory.mktemp("ddp")
    specs = [arg for i, (name, values) in enumerate(MODELS.items()) for arg in (["--"] if i else []) + [name, *values]]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER), str(out), str(STEPS), *specs]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def report(out: Path, label: str, rank: int) -> dict:
    return json.loads((out / f"{label}-rank-{rank}.json").read_text())


def digests_at(run_dir: Path, folder: Path) -> dict[str, str]:
    _, _, model = runs.build_from_record(runs.read_record(run_dir), "cpu")
    checkpoint.load_weights(model, folder)
    return distributed.parameter_digests(model)


@pytest.mark.parametrize("label", list(MODELS))
def test_two_processes_end_with_the_same_parameters_and_one_run_directory(trained: Path, label: str) -> None:
    name, _, option = label.partition("@")
    first, second = report(trained, label, 0), report(trained, label, 1)
    assert first["step"] == second["step"] == STEPS
    assert first["digests"] == second["digests"], "the ranks' parameters differ after training"
    run_dir = Path(first["run_dir"])
    assert second["run_dir"] == str(run_dir), "every rank knows rank 0's run directory"
    assert [p.name for p in (trained / label / "runs" / name).iterdir()] == [run_dir.name], "exactly one run folder"

    # rank 0's checkpoints: the last holds the parameters every rank ended with; training moved them
    saved = checkpoint.list_checkpoints(run_dir)
    assert [step for step, _ in saved] == [6, 8]
    assert digests_at(run_dir, saved[-1][1]) == first["digests"]
    assert digests_at(run_dir, saved[0][1]) != first["digests"]

    record = runs.read_config(run_dir)
    training = record["training"]
    assert (training["batch_size"], training["world_size"], training["global_batch_size"]) == (16, 2, 32)
    assert training["precision"] == ("fp16" if option == "fp16" else "fp32") and training["compile"] == (option == "compile")
    lines = [json.loads(line) for line in (run_dir / runs.METRICS).read_text().splitlines()]
    assert [m["step"] for m in lines if "event" not in m] == [2, 4, 6, 8], "one metrics line per logged step"
    assert all(("loss_scale" in m) == (option == "fp16") for m in lines if "event" not in m)
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step-00000004.png", "step-00000008.png"]
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1


def test_compiling_on_two_processes_trains_as_the_plain_modules_do(trained: Path) -> None:
    def losses(label: str) -> list[float]:
        run_dir = Path(report(trained, label, 0)["run_dir"])
        return [m["loss"] for m in map(json.loads, (run_dir / runs.METRICS).read_text().splitlines()) if "event" not in m]

    plain, compiled = losses("vae"), losses("vae@compile")
    assert len(plain) == len(compiled) == STEPS // 2
    assert compiled == pytest.approx(plain, rel=1e-3), "the same losses, up to rounding"


def test_ranks_at_different_points_stop_together_with_one_message(trained: Path) -> None:
    messages = [(trained / f"disagree-rank-{rank}.txt").read_text() for rank in (0, 1)]
    assert messages[0] == messages[1]
    assert "the processes took different paths" in messages[0] and "process 1 at place 1" in messages[0]
    assert "\n" not in messages[0]


def test_resume_continues_a_distributed_run_on_two_processes(trained: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "dcgan-run"
    shutil.copytree(report(trained, "dcgan", 0)["run_dir"], run_dir)
    result = run_zoo(
        "train", "dcgan", "--nproc", "2", "--resume", str(run_dir), "--steps", "12", "--device", "cpu", "--no-progress",
        env={"OMP_NUM_THREADS": "1"}, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == str(run_dir), "rank 0 alone prints the run directory"
    assert f"resuming {run_dir} at step 8: batch 16 per process x 2 processes = global batch 32" in result.stderr
    assert [step for step, _ in checkpoint.list_checkpoints(run_dir)] == [9, 12]
    lines = [json.loads(line) for line in (run_dir / runs.METRICS).read_text().splitlines()]
    assert [m["step"] for m in lines if "event" not in m] == [2, 4, 6, 8, 10, 12]


def test_a_distributed_run_resumes_on_another_number_of_processes_with_its_global_batch(trained: Path, tmp_path: Path, zoo_cli) -> None:
    run_dir = tmp_path / "dcgan-run"
    shutil.copytree(report(trained, "dcgan", 0)["run_dir"], run_dir)
    result = zoo_cli("train", "dcgan", "--nproc", "3", "--resume", str(run_dir), "--steps", "10", "--device", "cpu")
    assert_one_line_error(result, 2, "global batch of 32, which 3 processes cannot share equally")
    assert [step for step, _ in checkpoint.list_checkpoints(run_dir)] == [6, 8], "nothing written"

    result = zoo_cli("train", "dcgan", "--resume", str(run_dir), "--steps", "10", "--device", "cpu", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "note: the run trained on 2 processes; it keeps its global batch of 32, now 32 per process on 1" in result.stderr
    assert [step for step, _ in checkpoint.list_checkpoints(run_dir)] == [9, 10]


def test_the_shards_of_the_ranks_are_disjoint_and_cover_the_global_batch() -> None:
    batch = torch.randperm(100, generator=torch.Generator().manual_seed(0))[:48]
    parts = [distributed.shard(batch, rank, 3) for rank in range(3)]
    assert [len(part) for part in parts] == [16, 16, 16]
    assert torch.equal(torch.cat(parts), batch), "disjoint, and together the whole batch"
    # two ranks with batch 16 see, between them, what one process with batch 32 sees
    alone = BatchOrder(1617, 32, seed=3)
    ranks = [BatchOrder(1617, 16, seed=3, rank=rank, world_size=2) for rank in range(2)]
    assert ranks[0].batches_per_epoch == alone.batches_per_epoch == 1617 // 32
    for step in (1, 2, 50, 51, 123):
        shards = [order.indices(step) for order in ranks]
        assert not set(shards[0].tolist()) & set(shards[1].tolist())
        assert torch.equal(torch.cat(shards), alone.indices(step))


@pytest.mark.battery("options")
@pytest.mark.parametrize(
    "args, env, fragment",
    [
        (("--nproc", "0"), {}, "--nproc must be at least 1, got 0"),
        (("--nproc", "2"), {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}, "already runs under it (WORLD_SIZE=2); leave --nproc out"),
        (("--sync-batchnorm",), {}, "--sync-batchnorm only matters with several processes"),
        (("--nproc", "1", "--sync-batchnorm"), {}, "--sync-batchnorm only matters with several processes"),
        (("--nproc", "2", "--sync-batchnorm", "--device", "cpu"), {}, "--sync-batchnorm needs CUDA (NCCL)"),
        (("--nproc", "2", "--batch-size", "1000"), {}, "fewer than the global batch of 2000 (--batch-size 1000 x 2 processes)"),
    ],
)
def test_bad_distributed_options_are_one_line_errors(zoo_cli, runs_dir: Path, args, env, fragment) -> None:
    result = zoo_cli("train", "dcgan", *TINY_SET, "--steps", "2", "--no-progress", *args, env=env)
    assert_one_line_error(result, 2, fragment)
    assert not runs_dir.exists(), "nothing is written, nothing started"


def test_a_run_failing_on_every_process_ends_with_one_error_line_and_no_torchrun_report(tmp_path: Path) -> None:
    result = run_zoo(
        "train", "dcgan", *TINY_SET, "--set", "lr_generator=1e12", "--set", "lr_discriminator=1e12", "--nproc", "2",
        "--steps", "20", "--device", "cpu", "--no-progress", "--runs-dir", str(tmp_path / "runs"),
        env={"OMP_NUM_THREADS": "1"}, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-4000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "training diverged at step" in errors[0], "rank 0 alone reports what every rank met"
    for noise in ("Traceback", "ChildFailedError", "torch/distributed/elastic", "rank 1:"):
        assert noise not in result.stderr


@pytest.mark.battery("signals")
def test_ctrl_c_stops_every_process_at_one_step_with_a_checkpoint(tmp_path: Path) -> None:
    # Ctrl-C in a terminal reaches the whole foreground process group: zoo (torchrun's agent) and the ranks
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo", "train", "dcgan", *TINY_SET, "--nproc", "2", "--steps", "100000", "--log-every", "2",
         "--device", "cpu", "--no-progress", "--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while not list(tmp_path.glob("dcgan/*/metrics.jsonl")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-4000:]
    assert "Traceback" not in stderr and "ChildFailedError" not in stderr
    run_dir = Path(stdout.strip())
    step, _ = checkpoint.latest_checkpoint(run_dir)
    assert f"interrupted at step {step}; checkpoint saved. Continue with: zoo train dcgan --nproc 2 --resume {run_dir}" in stderr
    assert 0 < step < 100000


def test_sync_batchnorm_keeps_the_checkpoint_keys_so_a_run_loads_in_one_process(tmp_path: Path) -> None:
    """--sync-batchnorm converts the layers in place (on CUDA); the weights still load into plain BatchNorm."""
    from zoo import DataSpec, get_model

    plugin = get_model("dcgan")
    config = plugin.Config(generator_width=8, discriminator_width=8, latent_dim=16)
    spec = DataSpec(1, 16, 16, num_classes=10)
    converted = plugin.build(config, spec, "cpu")
    assert distributed.batchnorm_modules(converted) == ["generator", "discriminator"]
    assert distributed.batchnorm_modules(get_model("vae").build(get_model("vae").Config(), spec, "cpu")) == []
    for name in distributed.batchnorm_modules(converted):
        assert torch.nn.SyncBatchNorm.convert_sync_batchnorm(converted.modules[name]) is converted.modules[name]
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.generator.modules())
    checkpoint.save(tmp_path, converted, 1)
    plain = plugin.build(config, spec, "cpu")
    checkpoint.load_weights(plain, checkpoint.checkpoint_dir(tmp_path, 1))
    assert distributed.parameter_digests(plain) == distributed.parameter_digests(converted)
