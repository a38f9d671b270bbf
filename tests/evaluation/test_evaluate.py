"""`zoo evaluate`: the printed table, metrics.jsonl, and results recorded in a catalog."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from support import assert_one_line_error
import zoo
from zoo import runs
from zoo.training.trainer import TrainOptions, TrainRequest, train

ROOT = Path(__file__).resolve().parents[2]
SMALL = ("latent_dim=4", "width=4", "hidden=16")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    options = TrainOptions(steps=20, batch_size=32, progress=False, sample_every=1000)
    return train(TrainRequest("vae", runs_dir=root, overrides=SMALL, options=options, command="zoo train vae --steps 20")).run_dir


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    options = TrainOptions(steps=30, batch_size=32, progress=False, sample_every=1000)
    tiny = ("generator_width=8", "discriminator_width=8", "latent_dim=16")
    return train(TrainRequest("dcgan", runs_dir=root, overrides=tiny, options=options, command="zoo train dcgan --steps 30")).run_dir


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "registry.json"
    shutil.copy(ROOT / "registry.json", path)
    return path


def vae_results(catalog: Path) -> list[dict]:
    return [m for m in json.loads(catalog.read_text())["models"] if m["name"] == "vae"][0]["results"]


def test_evaluate_prints_both_bounds_and_logs_them(zoo_cli, vae_run):
    before = runs.last_losses(vae_run)
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--metrics", "nll", "-k", "8", "--no-progress")
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
        result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--metrics", "nll", "-k", k, "--no-progress", "--record", "--registry", str(catalog))
        assert result.exit_code == 0, result.stderr
    before = [r for r in vae_results(ROOT / "registry.json") if r["dataset"] != "digits"]
    results = vae_results(catalog)
    assert [r for r in results if r["dataset"] != "digits"] == before, "results on other data are kept"
    results = [r for r in results if r["dataset"] == "digits"]
    assert [r["metric"] for r in results] == ["neg_elbo", "iwae_nll"], "the second measurement replaced the first"
    iwae = results[1]
    assert iwae["k"] == 6 and iwae["dataset"] == "digits" and iwae["split"] == "test" and iwae["n"] == 180
    assert iwae["train_command"] == "zoo train vae --steps 20"
    # paths as typed are absolute; the catalog keeps them relative to its own folder
    run = os.path.relpath(vae_run, catalog.parent)
    assert iwae["command"] == f"zoo evaluate vae --run {run} --metrics nll -k 6 --no-progress --record --registry {catalog.name}"
    assert iwae["plugin_version"] == zoo.get_model("vae").version
    assert iwae["unit"] == "nats/image" and iwae["bits_per_dim"] == pytest.approx(iwae["value"] / (256 * 0.6931), rel=1e-3)
    others = [m for m in json.loads(catalog.read_text())["models"] if m["name"] != "vae"]
    assert others == [m for m in json.loads((ROOT / "registry.json").read_text())["models"] if m["name"] != "vae"]


def test_record_without_a_catalog_fails_before_measuring(zoo_cli, vae_run, tmp_path):
    lines = len((vae_run / runs.METRICS).read_text().splitlines())
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--record", "--registry", str(tmp_path / "none.json"))
    assert_one_line_error(result, 2, "no catalog at")
    assert len((vae_run / runs.METRICS).read_text().splitlines()) == lines


def test_a_model_without_likelihood_has_no_nll(zoo_cli, dcgan_run):
    assert_one_line_error(zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--metrics", "nll"), 2, "dcgan defines no likelihood")


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
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--dataset", f"folder:{folder}", "--split", "train", "--metrics", "nll", "-k", "4", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert f"on folder:{folder.resolve()} train: 5 images" in result.stdout


def test_a_conditional_model_says_its_bound_is_given_the_label(zoo_cli, vae_run, tmp_path):
    options = TrainOptions(steps=5, batch_size=32, progress=False, sample_every=1000)
    cvae_run = train(TrainRequest("cvae", runs_dir=tmp_path, overrides=SMALL, options=options)).run_dir
    result = zoo_cli("evaluate", "cvae", "--run", str(cvae_run), "--metrics", "nll", "-k", "2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "conditioning: given each image's true class label: the bounds are on -log p(x | y)" in result.stdout
    plain = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--metrics", "nll", "-k", "2", "--no-progress")
    assert "conditioning" not in plain.stdout


QUALITY_HEADER = ["FID", "KID", "IS", "precision", "recall", "density", "coverage"]


def quality_rows(out: str) -> dict[str, list[str]]:
    """The table's two rows (model, floor), split on the runs of spaces between columns."""
    import re

    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == QUALITY_HEADER)
    return {line.split(",")[0]: re.split(r"\s{2,}", line.strip()) for line in lines[header + 1 : header + 3]}


def test_a_gan_is_measured_against_the_real_split_beside_the_floor(zoo_cli, dcgan_run, digits_classifier, catalog):
    result = zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "-n", "300", "--no-progress", "--record", "--registry", str(catalog))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "on digits test: 180 real images" in out
    assert "features: classifier:digits: CNN trained by zoo on digits train (1,617 images, seed 0)" in out
    rows = quality_rows(out)
    model, floor = rows["dcgan"], rows["real vs real (floor)"]
    assert model[0] == "dcgan, 300 samples" and floor[0].endswith("90 a side")
    fid, floor_fid = float(model[1]), float(floor[1])
    assert fid > floor_fid > 0, "30 steps of a tiny GAN are far from the real-vs-real floor"
    assert "KID over 100 subsets of 90" in out and "k = 5 on 180 images a side" in out

    entry = json.loads((dcgan_run / runs.METRICS).read_text().splitlines()[-1])
    assert entry["event"] == "evaluate" and entry["extractor"] == "classifier:digits"
    assert entry["samples"] == 300 and entry["n_real"] == 180 and round(entry["fid"], 3) == fid
    assert round(entry["floor"]["fid"], 3) == floor_fid

    results = [m for m in json.loads(catalog.read_text())["models"] if m["name"] == "dcgan"][0]["results"]
    before = [m for m in json.loads((ROOT / "registry.json").read_text())["models"] if m["name"] == "dcgan"][0]["results"]
    assert [r for r in results if r["dataset"] != "digits"] == before, "results on other data are kept"
    results = [r for r in results if r["dataset"] == "digits"]
    assert [r["metric"] for r in results] == ["fid", "kid", "is", "precision", "recall", "density", "coverage"]
    recorded = results[0]
    assert recorded["extractor"] == "classifier:digits" and recorded["n"] == 300 and recorded["n_real"] == 180
    assert recorded["value"] == pytest.approx(fid, abs=1e-3) and recorded["floor"] == pytest.approx(floor_fid, abs=1e-3)
    assert recorded["command"].startswith(f"zoo evaluate dcgan --run {os.path.relpath(dcgan_run, catalog.parent)} -n 300")
    assert results[1]["std"] >= 0 and results[3]["k"] == 5


def test_the_same_seed_gives_the_same_figures(zoo_cli, dcgan_run, digits_classifier):
    runs_ = [zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "-n", "200", "--metrics", "fid,prdc", "--no-progress") for _ in range(2)]
    assert runs_[0].exit_code == 0, runs_[0].stderr
    assert runs_[0].stdout == runs_[1].stdout


def test_without_a_classifier_the_error_says_how_to_train_one(zoo_cli, dcgan_run, tmp_path):
    result = zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), env={"ZOO_CACHE_DIR": str(tmp_path)})
    assert_one_line_error(result, 2, "no trained classifier for 'digits'", "zoo features train --dataset digits")


def test_a_likelihood_model_keeps_its_nll_and_says_why_sample_quality_is_missing(zoo_cli, vae_run, tmp_path):
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "-k", "2", "--no-progress", env={"ZOO_CACHE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.stderr
    assert "negative ELBO" in result.stdout
    assert "sample quality not measured: no trained classifier for 'digits'" in result.stdout


def test_a_likelihood_model_gets_both_in_one_report(zoo_cli, vae_run, digits_classifier):
    result = zoo_cli("evaluate", "vae", "--run", str(vae_run), "--metrics", "nll,fid,kid", "-k", "2", "-n", "200", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "IWAE NLL (k=2)" in result.stdout and "real vs real (floor)" in result.stdout
    events = [json.loads(line) for line in (vae_run / runs.METRICS).read_text().splitlines()[-2:]]
    assert "iwae_nll" in events[0] and events[1]["extractor"] == "classifier:digits" and "is_mean" not in events[1]


def test_unknown_metrics_and_extractors_are_one_line_errors(zoo_cli, dcgan_run, digits_classifier):
    assert_one_line_error(zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--metrics", "fid,sharpness"), 2, "unknown metric 'sharpness'")
    assert_one_line_error(zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--features", "vgg"), 2, "unknown feature extractor 'vgg'")
    assert_one_line_error(zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--features", "inception"), 2, "--weights PATH")
    assert_one_line_error(zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "-n", "1"), 2, "-n must be at least 2")
