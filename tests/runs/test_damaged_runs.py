"""A run folder damaged in one place, given to every verb that reads a run: one error line naming
what is damaged, exit 1, no traceback, never the catch-all, and nothing in the run or beside
``--out`` written. ``zoo runs`` lists the healthy runs and warns of the damaged one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from support import assert_one_line_error, file_digests
from zoo.runs import checkpoint


def _config(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        record = json.loads((run / "config.json").read_text())
        change(record)
        (run / "config.json").write_text(json.dumps(record))

    return damage


def _checkpoint_file(name: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = checkpoint.latest_checkpoint(run)[1] / name
        path.write_bytes(change(path.read_bytes()))

    return damage


def _flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _remove(relative: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return damage


def _remove_from_checkpoint(name: str) -> Callable[[Path], None]:
    return lambda run: (checkpoint.latest_checkpoint(run)[1] / name).unlink()


# damage -> (how, what the error line says)
UNREADABLE_RECORDS = {
    "config.json not JSON": (lambda r: (r / "config.json").write_text("{not json"), "config.json is not valid JSON"),
    "config.json empty": (lambda r: (r / "config.json").write_text(""), "config.json is not valid JSON"),
    "config.json not UTF-8": (lambda r: (r / "config.json").write_bytes(b'{"model": "\xff\xfe"}'), "utf-8"),
    "config.json a list": (lambda r: (r / "config.json").write_text("[]"), "is not a zoo run config"),
    "dataset a string": (_config(lambda c: c.update(dataset="digits")), "dataset should be an object"),
    "dataset spec missing": (_config(lambda c: c["dataset"].pop("spec")), "dataset.spec is missing"),
    "image height a string": (_config(lambda c: c["dataset"]["spec"].update(height="16")), "dataset.spec.height should be int"),
    "model config null": (_config(lambda c: c.update(config=None)), "config should be an object, got None"),
    "seed missing": (_config(lambda c: c.pop("seed")), "seed is missing"),
}
DAMAGES = {
    **UNREADABLE_RECORDS,
    "config.json missing": (_remove("config.json"), "is not a zoo run: it has no config.json"),
    "model config unknown key": (_config(lambda c: c["config"].update(widthh=3)), "unknown config key 'widthh'"),
    "model config bad value": (_config(lambda c: c["config"].update(latent_dim="big")), "latent_dim: 'big' is not an integer"),
    "another model's name": (_config(lambda c: c.update(model="vae")), "is a run of 'vae', not 'dcgan'"),
    "another plugin version": (_config(lambda c: c.update(plugin_version="99")), "made by dcgan version 99"),
    "manifest not JSON": (_checkpoint_file(checkpoint.MANIFEST, lambda b: b"{not json"), "checkpoint.json is damaged"),
    "manifest a list": (_checkpoint_file(checkpoint.MANIFEST, lambda b: b"[1, 2]"), "checkpoint.json is damaged"),
    "weights bit-flipped": (_checkpoint_file(checkpoint.WEIGHTS, _flip_last_bit), "weights.safetensors is corrupt"),
    "weights truncated": (_checkpoint_file(checkpoint.WEIGHTS, lambda b: b[:100]), "weights.safetensors is corrupt"),
    "weights missing": (_remove_from_checkpoint(checkpoint.WEIGHTS), "has no checkpoint yet"),
    # what a kill during an older zoo's checkpoint rotation could leave: a folder with one file
    "training state missing": (_remove_from_checkpoint(checkpoint.TRAINING), "has no checkpoint yet"),
    "no checkpoints": (_remove("checkpoints"), "has no checkpoint yet"),
}
# What only a resume reads: the optimizer state and the training settings.
RESUME_ONLY = {
    "training state truncated": (_checkpoint_file(checkpoint.TRAINING, lambda b: b[:100]), "training.safetensors is corrupt"),
    "training state bit-flipped": (_checkpoint_file(checkpoint.TRAINING, _flip_last_bit), "training.safetensors is corrupt"),
    "log_every zero": (_config(lambda c: c["training"].update(log_every=0)), "--log-every must be at least 1, got 0"),
    "batch size a string": (_config(lambda c: c["training"].update(batch_size="64")), "--batch-size must be a whole number, got '64'"),
    "checkpoint interval a fraction": (_config(lambda c: c["training"].update(checkpoint_every=2.5)), "--checkpoint-every must be a whole number, got 2.5"),
}
VERBS = {
    "train --resume": lambda run, out: ["train", "dcgan", "--resume", str(run), "--steps", "5", "--no-progress"],
    "sample": lambda run, out: ["sample", "dcgan", "--run", str(run), "--out", str(out / "s.png")],
    "export": lambda run, out: ["export", "dcgan", "--run", str(run), "--onnx", "--out", str(out / "g.onnx")],
    "evaluate": lambda run, out: ["evaluate", "dcgan", "--run", str(run), "--metrics", "fid", "-n", "8"],
}
CASES = [(damage, verb) for damage in DAMAGES for verb in VERBS] + [(damage, "train --resume") for damage in RESUME_ONLY]


def damaged(trained: Path, tmp_path: Path, how: Callable[[Path], None]) -> Path:
    run = tmp_path / "runs" / "dcgan" / trained.name
    shutil.copytree(trained, run)
    how(run)
    return run


@pytest.mark.battery("damaged runs")
@pytest.mark.parametrize(("damage", "verb"), CASES, ids=[f"{verb}: {damage}" for damage, verb in CASES])
def test_a_damaged_run_is_one_line_naming_the_damage_and_nothing_is_written(trained, tmp_path, zoo_cli, monkeypatch, damage, verb):
    how, says = {**DAMAGES, **RESUME_ONLY}[damage]
    run = damaged(trained, tmp_path, how)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    before = file_digests(run)
    result = zoo_cli(*VERBS[verb](run, out))
    assert_one_line_error(result, 1, says)
    assert file_digests(run) == before, "the damaged run is left as it was"
    assert not list(out.iterdir()), "nothing is written"


@pytest.mark.battery("damaged runs")
@pytest.mark.parametrize("damage", list(UNREADABLE_RECORDS))
def test_zoo_runs_lists_the_healthy_runs_and_warns_of_a_damaged_one(trained, tmp_path, zoo_cli, damage):
    how, says = UNREADABLE_RECORDS[damage]
    run = damaged(trained, tmp_path, how)
    healthy = run.parent / "healthy"
    shutil.copytree(trained, healthy)
    result = zoo_cli("runs", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert warning.startswith("warning: skipped a damaged run: ") and says in warning and str(run) in warning
    assert str(healthy) in result.stdout and str(run) not in result.stdout
