"""The command line, through click's runner and as a real subprocess."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from support import assert_one_line_error, run_zoo

TINY = ["--set", "generator_width=16", "--set", "discriminator_width=16", "--set", "latent_dim=16"]


@pytest.fixture
def trained_run(runs_dir, zoo_cli) -> Path:
    result = zoo_cli("train", "dcgan", "--steps", "20", "--seed", "0", "--no-progress", "--checkpoint-every", "10", *TINY)
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip())


def test_list_and_info(zoo_cli):
    listing = zoo_cli("list")
    assert listing.exit_code == 0
    assert any(line.startswith("dcgan ") and "gan" in line for line in listing.stdout.splitlines())
    rows = json.loads(zoo_cli("list", "--json").stdout)
    assert {"name": "dcgan", "status": "ok"}.items() <= next(r for r in rows if r["name"] == "dcgan").items()
    info = json.loads(zoo_cli("info", "dcgan", "--json").stdout)
    assert info["graphs"] == ["generator"] and "digits" in info["datasets"] and "mnist" in info["datasets"]
    assert info["precisions"] == ["fp32", "bf16", "fp16"]
    fields = {f["name"]: f for f in info["config"]}
    assert fields["latent_dim"]["default"] == 100 and fields["latent_dim"]["help"]
    assert "latent_dim" in zoo_cli("info", "dcgan").stdout


def test_info_lists_only_the_datasets_the_model_trains_on_as_train_decides(runs_dir, zoo_cli):
    from zoo import registry

    installed = list(registry.entries(registry.DATASETS))

    def datasets(name: str) -> tuple[dict, str]:
        info = json.loads(zoo_cli("info", name, "--json").stdout)
        (line,) = [line for line in zoo_cli("info", name).stdout.splitlines() if line.startswith("datasets: ")]
        return info, line

    dcgan, line = datasets("dcgan")
    assert dcgan["datasets"] == [d for d in installed if d != "moving-digits"] and dcgan["datasets_needing_labels"] == []
    assert line == f"datasets: {', '.join(dcgan['datasets'])} (default digits)"
    cgan, line = datasets("cgan")
    assert cgan["datasets"] == [d for d in installed if d not in ("moving-digits", "lfw", "lfw-subset")]
    assert cgan["datasets_needing_labels"] == ["folder", "prepared"], "a folder without class subfolders has no labels"
    assert "folder (labelled ones)" in line and "lfw" not in line
    assert datasets("convlstm")[0]["datasets"] == ["moving-digits"]
    # what info leaves out, train refuses
    assert_one_line_error(zoo_cli("train", "dcgan", "--dataset", "moving-digits"), 2, "dcgan trains on images, but dataset 'moving-digits' gives sequences")
    assert_one_line_error(zoo_cli("train", "cgan", "--dataset", "lfw-subset"), 2, "cgan is class-conditional but dataset 'lfw-subset' has no labels")
    assert not runs_dir.exists()


def test_the_finish_line_shows_the_means_logged_for_the_last_interval(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--steps", "12", "--log-every", "5", "--no-progress", *TINY)
    assert result.exit_code == 0, result.stderr
    from zoo.runs import metrics_log

    last = metrics_log.training_lines(Path(result.stdout.strip()))[-1]  # the means of steps 11 and 12
    means = ", ".join(f"{key} {last[key]:.4g}" for key in ("loss_d", "d_accuracy", "loss_g"))
    assert result.stderr.splitlines()[-1] == f"finished at step 12: {means} (mean of steps 11-12)"


def test_train_prints_the_run_directory_and_sample_writes_a_grid(trained_run, zoo_cli, tmp_path):
    assert trained_run.parent.parent == Path(__import__("os").environ["ZOO_RUNS_DIR"])
    assert (trained_run / "config.json").is_file() and (trained_run / "metrics.jsonl").is_file()
    command = json.loads((trained_run / "config.json").read_text())["command"]
    assert command.startswith("zoo train dcgan --steps 20 --seed 0"), "in-process runs record their own arguments"
    out = tmp_path / "grid.png"
    result = zoo_cli("sample", "dcgan", "-n", "16", "--seed", "1", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    image = Image.open(out)
    assert image.size == (4 * 112 + 5 * 2, 4 * 112 + 5 * 2), "16 x 16 tiles enlarged 7 times, to 112 pixels"
    assert "(each image 7x)" in result.stderr
    again = tmp_path / "again.png"
    zoo_cli("sample", "dcgan", "--run", str(trained_run), "-n", "16", "--seed", "1", "--out", str(again))
    assert out.read_bytes() == again.read_bytes(), "latest is this run, and a seed fixes the samples"
    header, row = zoo_cli("runs", "dcgan").stdout.splitlines()
    assert header.split("  ")[0] == "model" and "last losses" in header
    cells = re.split(r" {2,}", row)
    assert cells[0] == "dcgan" and cells[1] == trained_run.name and cells[3:5] == ["finished", "20/20"]
    assert cells[6].startswith("loss_d ") and cells[-1] == str(trained_run)


def test_samples_leave_as_a_grid_at_any_scale_a_folder_of_pngs_or_an_npz_of_the_same_images(trained_run, zoo_cli, tmp_path):
    import numpy as np

    def sample(out: str, *more: str):
        result = zoo_cli("sample", "dcgan", "-n", "10", "--seed", "3", "--out", out, *more)
        assert result.exit_code == 0, result.stderr
        return result

    sample(str(tmp_path / "raw.png"), "--scale", "1", "--nrow", "5")
    assert Image.open(tmp_path / "raw.png").size == (5 * 16 + 6 * 2, 2 * 16 + 3 * 2)
    sample(str(tmp_path / "big.png"), "--scale", "3", "--nrow", "5")
    assert Image.open(tmp_path / "big.png").size == (5 * 48 + 6 * 2, 2 * 48 + 3 * 2)
    folder = sample(str(tmp_path / "each") + "/")
    assert "10 PNGs in" in folder.stderr
    files = sorted((tmp_path / "each").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(10)]
    singles = np.stack([np.asarray(Image.open(f)) for f in files])
    sample(str(tmp_path / "s.npz"))
    with np.load(tmp_path / "s.npz") as arrays:
        assert arrays["images"].dtype == np.uint8 and arrays["images"].shape == (10, 16, 16, 1)
        assert np.array_equal(arrays["images"][..., 0], singles), "the folder and the .npz hold the same images"
    raw = np.asarray(Image.open(tmp_path / "raw.png"))
    assert np.array_equal(raw[2:18, 2:18, 0], singles[0]), "and so does the grid"
    refused = zoo_cli("sample", "dcgan", "-n", "10", "--out", str(tmp_path / "each") + "/")
    assert_one_line_error(refused, 2, "already exists and is not an empty folder")
    assert sorted((tmp_path / "each").iterdir()) == files


def test_resume_through_the_cli(trained_run, zoo_cli):
    from zoo.runs import checkpoint

    result = zoo_cli("train", "dcgan", "--resume", str(trained_run), "--steps", "30", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "finished at step 30" in result.stderr and result.stdout.strip() == str(trained_run)
    mixed = zoo_cli("train", "dcgan", "--resume", str(trained_run), "--steps", "40", "--set", "latent_dim=3")
    assert_one_line_error(mixed, 2, "--set cannot be combined with --resume")
    # every option the run keeps from its record is refused, not silently ignored
    for flag, value in (("--seed", "3"), ("--batch-size", "8"), ("--log-every", "5"), ("--precision", "fp32")):
        kept = zoo_cli("train", "dcgan", "--resume", str(trained_run), "--steps", "40", flag, value)
        assert_one_line_error(kept, 2, f"{flag} cannot be combined with --resume")
    assert checkpoint.latest_checkpoint(trained_run)[0] == 30, "a refused resume trains nothing"


def test_unknown_model(zoo_cli):
    assert_one_line_error(zoo_cli("train", "dcgn"), 2, "unknown model 'dcgn'", "did you mean 'dcgan'?")
    assert_one_line_error(zoo_cli("info", "nope"), 2, "unknown model 'nope'")


def test_bad_set_key_lists_valid_keys(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--set", "depth=3")
    assert_one_line_error(result, 2, "unknown config key 'depth'", "valid keys: latent_dim, ", "generator_width", "ema_decay")
    assert_one_line_error(zoo_cli("train", "dcgan", "--set", "latent_dim=big"), 2, "bad value for latent_dim")
    assert not runs_dir.exists(), "a refused command must not create a run"


def test_missing_run_directory(runs_dir, zoo_cli, tmp_path):
    assert_one_line_error(zoo_cli("sample", "dcgan", "--run", str(tmp_path / "nowhere")), 1, "does not exist")
    assert_one_line_error(zoo_cli("sample", "dcgan"), 1, "no runs of 'dcgan'", "zoo train dcgan")


def test_truncated_safetensors(trained_run, zoo_cli, tmp_path):
    weights = sorted(trained_run.glob("checkpoints/*/weights.safetensors"))[-1]
    weights.write_bytes(weights.read_bytes()[:1000])
    result = zoo_cli("sample", "dcgan", "--run", str(trained_run), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, 1, str(weights), "truncated")
    assert not (tmp_path / "x.png").exists()


def test_foreign_and_mismatched_checkpoints(trained_run, zoo_cli, tmp_path):
    config = json.loads((trained_run / "config.json").read_text())
    config["config"]["latent_dim"] = 32
    (trained_run / "config.json").write_text(json.dumps(config))
    result = zoo_cli("sample", "dcgan", "--run", str(trained_run), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, 1, "has shape", "expects")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({**config, "model": "other-gan"}))
    result = zoo_cli("sample", "dcgan", "--run", str(foreign), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, 1, "is a run of 'other-gan', not 'dcgan'")


def test_missing_dataset_folder(runs_dir, zoo_cli, tmp_path):
    result = zoo_cli("train", "dcgan", "--dataset", "mnist", "--data-dir", str(tmp_path / "no-mnist"))
    assert_one_line_error(result, 1, "mnist train split not found", str(tmp_path / "no-mnist" / "train-images-idx3-ubyte"))
    result = zoo_cli("train", "dcgan", "--dataset", f"folder:{tmp_path / 'no-images'}")
    assert_one_line_error(result, 1, str(tmp_path / "no-images"))
    assert not runs_dir.exists()


def test_sample_refuses_to_overwrite_with_a_bad_name(trained_run, zoo_cli, tmp_path):
    assert_one_line_error(zoo_cli("sample", "dcgan", "--out", str(tmp_path / "grid.jpg")), 2, "--out must name a .png")


def test_real_subprocess_train_and_sample(tmp_path):
    env = {"ZOO_RUNS_DIR": str(tmp_path / "runs")}
    trained = run_zoo("train", "dcgan", "--steps", "5", "--no-progress", *TINY, env=env)
    assert trained.returncode == 0, trained.stderr
    assert Path(trained.stdout.strip()).is_dir()
    record = json.loads((Path(trained.stdout.strip()) / "config.json").read_text())
    assert record["command"] == "zoo train dcgan --steps 5 --no-progress " + " ".join(TINY), "the command as typed"
    sampled = run_zoo("sample", "dcgan", "-n", "4", "--out", str(tmp_path / "g.png"), env=env)
    assert sampled.returncode == 0 and (tmp_path / "g.png").is_file()
    failed = run_zoo("sample", "nonexistent-model", env=env)
    assert_one_line_error(failed, 2, "unknown model 'nonexistent-model'")
    debug = run_zoo("--debug", "sample", "nonexistent-model", env=env)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_a_closed_pipe_is_not_an_error():
    """`zoo info dcgan | head -0`: the reader is gone before zoo writes; zoo exits quietly."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "zoo", "info", "dcgan"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # long before the interpreter has started and imported zoo
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == ""


def test_a_loaded_run_names_the_checkpoint_it_chose_and_its_digest(trained_run):
    from zoo import runs
    from zoo.runs import checkpoint
    from zoo.digest import sha256_of

    loaded = runs.load(trained_run)
    assert loaded.checkpoint == checkpoint.latest_checkpoint(trained_run)[1]
    assert loaded.weights_sha256 == sha256_of(loaded.checkpoint / checkpoint.WEIGHTS)
    newer = checkpoint.save(trained_run, loaded.model, loaded.step + 5)
    assert checkpoint.latest_checkpoint(trained_run)[1] == newer != loaded.checkpoint
    assert loaded.weights_sha256 == sha256_of(loaded.checkpoint / checkpoint.WEIGHTS), "the choice made at load stays"
