"""`zoo evaluate`: the printed table, metrics.jsonl, and results recorded in a catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support import assert_one_line_error
from zoo import runs
from zoo.trainer import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("latent_dim=4", "width=4", "hidden=16")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    options = TrainOptions(steps=20, batch_size=32, progress=False, sample_every=1000)
    return train("vae", runs_dir=root, overrides=SMALL, options=options, command="zoo train vae --steps 20").run_dir


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "registry.json"
    shutil.copy(ROOT / "registry.json", path)
    return path


def vae_results(catalog: Path) -> list[dict]:
    return [m for m in json.loads(catalog.read_text())["models"] if m["name"] == "vae"][0]["results"]


def test_evaluate_prints_both_bounds_and_logs_them(zoo_cli, vae_run):
    before = runs.last_losses(vae_run)
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "-k", "8", "--no-progress")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "on digits test: 180 images" in out
    assert "binarisation: dynamic: each pixel drawn once from Bernoulli(intensity), seed 0" in out
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines() if line.startswith(("negative ELBO", "IWAE"))}
    neg_elbo, iwae = float(rows["negative ELBO"][2]), float(rows["IWAE NLL (k=8)"][3])
    assert 0 < iwae <= neg_elbo
    entry = json.loads((vae_run / runs.METRICS).read_text().splitlines()[-1])
    assert entry["event"] == "evaluate" and entry["iwae_k"] == 8 and entry["split"] == "test" and entry["n"] == 180
    assert round(entry["neg_elbo"], 2) == neg_elbo and round(entry["iwae_nll"], 2) == iwae
    assert runs.last_losses(vae_run) == before, "an evaluation line does not hide the training losses"


def test_record_adds_results_and_replaces_them_when_measured_again(zoo_cli, vae_run, catalog):
    for k in ("4", "6"):
        result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "-k", k, "--no-progress", "--record", "--registry", str(catalog))
        assert result.exit_code == 0, result.stderr
    before = [r for r in vae_results(ROOT / "registry.json") if r["dataset"] != "digits"]
    results = vae_results(catalog)
    assert [r for r in results if r["dataset"] != "digits"] == before, "results on other data are kept"
    results = [r for r in results if r["dataset"] == "digits"]
    assert [r["metric"] for r in results] == ["neg_elbo", "iwae_nll"], "the second measurement replaced the first"
    iwae = results[1]
    assert iwae["k"] == 6 and iwae["dataset"] == "digits" and iwae["split"] == "test" and iwae["n"] == 180
    assert iwae["train_command"] == "zoo train vae --steps 20"
    assert iwae["command"] == f"zoo evaluate vae --run {vae_run} -k 6 --no-progress --record --registry {catalog}"
    assert iwae["unit"] == "nats/image" and iwae["bits_per_dim"] == pytest.approx(iwae["value"] / (256 * 0.6931), rel=1e-3)
    others = [m for m in json.loads(catalog.read_text())["models"] if m["name"] != "vae"]
    assert others == [m for m in json.loads((ROOT / "registry.json").read_text())["models"] if m["name"] != "vae"]


def test_record_without_a_catalog_fails_before_measuring(zoo_cli, vae_run, tmp_path):
    lines = len((vae_run / runs.METRICS).read_text().splitlines())
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--record", "--registry", str(tmp_path / "none.json"))
    assert_one_line_error(result, 2, "no catalog at")
    assert len((vae_run / runs.METRICS).read_text().splitlines()) == lines


def test_a_model_without_likelihood_is_refused(zoo_cli, runs_dir):
    trained = zoo_cli("train", "dcgan", "--steps", "2", "--no-progress", "--set", "generator_width=4", "--set", "discriminator_width=4")
    assert trained.exit_code == 0, trained.stderr
    assert_one_line_error(zoo_cli("evaluate", "dcgan"), 2, "dcgan defines no likelihood")


def test_bad_options_are_one_line_errors(zoo_cli, vae_run):
    assert_one_line_error(zoo_cli("evaluate", "vae", "--run", str(vae_run), "-k", "0"), 2, "-k must be at least 1")
    assert_one_line_error(zoo_cli("evaluate", "vae", "--run", str(vae_run), "--split", "validation"), 2, "no split 'validation'")


def test_another_dataset_can_be_named_even_without_labels(zoo_cli, vae_run, tmp_path):
    """An unconditional model evaluates on any images of its size, e.g. a folder (one split, train)."""
    from PIL import Image

    from zoo.datasets import load_dataset

    folder = tmp_path / "mine"
    folder.mkdir()
    for i, image in enumerate(load_dataset("digits", split="test").images[:5]):
        Image.fromarray(image[0].numpy(), "L").save(folder / f"{i}.png")
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--dataset", f"folder:{folder}", "--split", "train", "-k", "4", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "on folder train: 5 images" in result.stdout


def test_a_conditional_model_says_its_bound_is_given_the_label(zoo_cli, vae_run, tmp_path):
    options = TrainOptions(steps=5, batch_size=32, progress=False, sample_every=1000)
    cvae_run = train("cvae", runs_dir=tmp_path, overrides=SMALL, options=options).run_dir
    result = zoo_cli("evaluate", "cvae", "--run", str(cvae_run), "-k", "2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "conditioning: given each image's true class label: the bounds are on -log p(x | y)" in result.stdout
    plain = zoo_cli("evaluate", "vae", "--run", str(vae_run), "-k", "2", "--no-progress")
    assert "conditioning" not in plain.stdout
