"""zoo.atomic: whole files or nothing, and what a killed process left beside a target cleaned up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from zoo import atomic


def ended_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def leftovers(target: Path, pid: int, host: str | None = None) -> tuple[Path, Path]:
    prefix = f".{target.name}.{host or atomic._host()}-{pid}."
    file = target.parent / f"{prefix}k3j2.tmp"
    file.write_bytes(b"half a file")
    folder = target.parent / f"{prefix}x9q1.tmp"
    folder.mkdir()
    (folder / "fp32.onnx").write_bytes(b"half a graph")
    return file, folder


def test_a_write_removes_what_ended_processes_left_for_that_target_only(tmp_path):
    target = tmp_path / "samples.png"
    dead = leftovers(target, ended_pid())
    alive = leftovers(target, os.getppid())
    elsewhere = leftovers(target, ended_pid(), host="another-machine")
    other_target = leftovers(tmp_path / "other.png", ended_pid())
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert not any(p.exists() for p in dead), "an ended process's temporary file and folder are removed"
    assert all(p.exists() for p in (*alive, *elsewhere, *other_target)), "a running process's, another machine's and another target's stay"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


@pytest.mark.battery("faults")
def test_an_export_removes_what_a_killed_export_left_beside_its_file(tmp_path, trained_dcgan, zoo_cli):
    out = tmp_path / "g.onnx"
    leftovers(out, ended_pid())
    result = zoo_cli("export", "dcgan", "--run", str(trained_dcgan), "--onnx", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"], "no temporary file or folder is left"


@pytest.fixture(scope="module")
def trained_dcgan(tmp_path_factory) -> Path:
    from zoo.training.trainer import TrainOptions, TrainRequest, train

    tiny = ("generator_width=8", "discriminator_width=8", "latent_dim=16")
    request = TrainRequest("dcgan", overrides=tiny, device="cpu", runs_dir=tmp_path_factory.mktemp("runs"), options=TrainOptions(steps=2, progress=False))
    return train(request).run_dir


def test_a_run_is_readable_alike_checkpoints_included_for_others_on_a_shared_runs_folder(trained_dcgan, tmp_path):
    """mkstemp and mkdtemp create 0600 and 0700; what zoo writes gets what open() and mkdir() give."""
    mask = os.umask(0)
    os.umask(mask)
    plain_file, plain_folder = tmp_path / "plain.txt", tmp_path / "plain"
    plain_file.write_text("x")
    plain_folder.mkdir()
    for path in trained_dcgan.rglob("*"):
        if path.name.endswith(".lock"):
            continue
        wanted = plain_folder if path.is_dir() else plain_file
        assert path.stat().st_mode & 0o777 == wanted.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~mask, path
