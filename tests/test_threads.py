"""zoo.threads: one rule for the CPU threads torch and onnxruntime compute with, and --threads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from zoo import threads
from zoo.export import export_run
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16")


def zoo(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", threads.ENV)}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env={**clean, **env}, timeout=300)


def test_the_default_is_the_environment_s_count_else_half_the_cores_this_process_may_use(monkeypatch):
    for variable in ("OMP_NUM_THREADS", threads.ENV):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert threads.default_threads() == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert threads.default_threads() == 1, "never zero"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3, "what a scheduler set"
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.default_threads() == 2, "zoo's own variable first"
    monkeypatch.setenv(threads.ENV, "lots")
    assert threads.default_threads() == 3, "a value that is not a count is passed over"


def test_train_computes_with_the_threads_asked_for_and_says_so(tmp_path):
    runs_dir = str(tmp_path / "runs")
    asked = zoo("train", "dcgan", "--steps", "2", "--no-progress", "--runs-dir", runs_dir, "--threads", "3", *TINY)
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr.splitlines()[0].endswith("; 3 CPU threads"), asked.stderr
    from_env = zoo("train", "dcgan", "--steps", "2", "--no-progress", "--runs-dir", runs_dir, *TINY, ZOO_THREADS="2")
    assert from_env.stderr.splitlines()[0].endswith("; 2 CPU threads"), from_env.stderr


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    run = train(TrainRequest("dcgan", overrides=tuple(TINY[1::2]), device="cpu", runs_dir=runs_dir, options=TrainOptions(steps=2, progress=False)))
    return export_run("dcgan", "onnx", run=run.run_dir, out=runs_dir / "g.onnx").path


def test_generate_runs_its_onnxruntime_session_on_the_threads_asked_for(onnx_file, tmp_path):
    result = zoo("generate", str(onnx_file), "-n", "4", "--out", str(tmp_path / "g.png"), "--threads", "3")
    assert result.returncode == 0, result.stderr
    assert "CPUExecutionProvider, 3 CPU threads)" in result.stderr, "as the session reports it"
    default = zoo("generate", str(onnx_file), "-n", "4", "--out", str(tmp_path / "g.png"), OMP_NUM_THREADS="1")
    assert "CPUExecutionProvider, 1 CPU thread)" in default.stderr
