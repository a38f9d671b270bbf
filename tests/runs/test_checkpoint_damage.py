"""A damaged training.safetensors is one line naming the file, never an unexpected error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from zoo.digest import sha256_of
from zoo.errors import ZooError
from zoo.runs import checkpoint
from zoo.training.trainer import ResumeRequest, resume


def damaged_copy(trained: Path, tmp_path: Path, change) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    _, folder = checkpoint.latest_checkpoint(copy)
    path = folder / checkpoint.TRAINING
    with safe_open(str(path), "pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        state = json.loads(handle.metadata()["zoo"])
    state, tensors = change(state, tensors)
    save_file(tensors, str(path), metadata={"zoo": json.dumps(state)})
    # written so by whatever wrote it: the manifest agrees, so the reader itself must catch it
    manifest = json.loads((folder / checkpoint.MANIFEST).read_text())
    manifest["files"][checkpoint.TRAINING] = sha256_of(path)
    (folder / checkpoint.MANIFEST).write_text(json.dumps(manifest))
    return copy


def drop(mapping, key):
    mapping = dict(mapping)
    mapping.pop(key)
    return mapping


@pytest.mark.battery("damaged runs")
@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s, t: (drop(s, "step"), t), "step is None"),
        (lambda s, t: ({**s, "step": "three"}, t), "step is 'three'"),
        (lambda s, t: (drop(s, "optimizers"), t), "has no optimizers"),
        (lambda s, t: ({**s, "optimizers": []}, t), "has no optimizers"),
        (lambda s, t: ({**s, "optimizers": {}}, t), "no state for optimizer"),
        (lambda s, t: (s, drop(t, "rng.cpu")), "holds no rng.cpu state"),
        (lambda s, t: (s, {**t, "rng.cpu": torch.zeros(3, dtype=torch.uint8)}), "training state is damaged"),
        (lambda s, t: (s, {**t, "rng.cpu": torch.zeros(5000, dtype=torch.float32)}), "training state is damaged"),
    ],
)
def test_a_damaged_training_state_is_one_error_naming_the_file(trained, tmp_path, change, named):
    run = damaged_copy(trained, tmp_path, change)
    with pytest.raises(ZooError, match=named) as caught:
        resume(ResumeRequest(run, steps=5, device="cpu", progress=False))
    message = str(caught.value)
    assert checkpoint.TRAINING in message and "\n" not in message


@pytest.mark.battery("damaged runs")
def test_a_checkpoint_file_changed_after_it_was_saved_is_refused_by_its_sha256(trained, tmp_path):
    from zoo import runs

    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    _, folder = checkpoint.latest_checkpoint(copy)
    manifest = json.loads((folder / checkpoint.MANIFEST).read_text())
    assert set(manifest["files"]) == {checkpoint.WEIGHTS, checkpoint.TRAINING} and manifest["step"] == 3
    weights = folder / checkpoint.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit of one weight: still a valid safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="weights.safetensors is corrupt: its sha256 is not the one recorded"):
        runs.load(copy)
    (folder / checkpoint.MANIFEST).write_text("{not json")
    with pytest.raises(ZooError, match="checkpoint.json is damaged"):
        runs.load(copy)


def test_a_checkpoint_without_a_manifest_still_loads(trained, tmp_path):
    from zoo import runs

    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    _, folder = checkpoint.latest_checkpoint(copy)
    (folder / checkpoint.MANIFEST).unlink()  # as every checkpoint before manifests
    assert runs.load(copy).step == 3


@pytest.mark.battery("faults")
def test_a_temporary_folder_left_by_a_killed_save_is_removed_by_the_next_save(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    stale = copy / "checkpoints" / ".step-00000004.abc123.tmp"
    stale.mkdir()
    (stale / checkpoint.WEIGHTS).write_bytes(b"half")
    resume(ResumeRequest(copy, steps=4, device="cpu", progress=False))
    assert not stale.exists()
    assert [step for step, _ in checkpoint.list_checkpoints(copy)] == [3, 4]


@pytest.mark.battery("faults")
def test_rotation_renames_a_checkpoint_away_before_removing_it_and_the_next_save_clears_what_a_kill_left(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    # what a kill in the middle of removing step 2 leaves now: a temporary folder, not a step folder
    half_removed = copy / "checkpoints" / ".step-00000002.removing.tmp"
    half_removed.mkdir()
    (half_removed / checkpoint.WEIGHTS).write_bytes(b"what was left")
    assert [step for step, _ in checkpoint.list_checkpoints(copy)] == [3]
    resume(ResumeRequest(copy, steps=5, device="cpu", progress=False))
    resume(ResumeRequest(copy, steps=6, device="cpu", progress=False))  # keeps two: step 3 is rotated out
    folders = sorted(p.name for p in (copy / "checkpoints").iterdir())
    assert folders == ["step-00000005", "step-00000006"], "rotation left no half-removed folder, and the stale one is gone"
