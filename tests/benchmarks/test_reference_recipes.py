"""benchmarks/reference_recipes.py: the recipes train and draw MNIST-shaped images, the bars
judge as the issue states them, and the table keeps only cells of the current versions.

Nothing here measures quality (that is the benchmark's job); it checks the machinery the
measured table depends on, on a handful of steps.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("reference_recipes", BENCHMARKS / "reference_recipes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_recipes"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)  # puts benchmarks/ on sys.path for the recipes package
    yield module
    sys.path.remove(str(BENCHMARKS))
    del sys.modules["reference_recipes"]


def digits_like(n: int = 128) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 28, 28, generator=generator) * 255).to(torch.uint8)


@pytest.mark.parametrize("recipe", ["dcgan", "wgan_gp", "sngan"])
def test_each_gan_recipe_trains_and_draws_28_pixel_images_in_range(bench, recipe):
    module = importlib.import_module(f"recipes.{recipe}")
    assert module.SOURCE, "every recipe cites its source"
    draw = module.train(digits_like(), steps=2, seed=0, device=torch.device("cpu"), batch_size=16)
    images = draw(5, 7)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(draw(5, 7), images)  # a seed picks the latents
    assert not torch.equal(draw(5, 8), images)


def test_the_vae_recipe_is_scored_by_zoos_likelihood_evaluator(bench):
    from zoo.datasets.source import ImageSet
    from zoo.evaluation.likelihood import evaluate_likelihood

    module = importlib.import_module("recipes.vae")
    images = digits_like()
    model = module.train(images, steps=3, seed=0, device=torch.device("cpu"), batch_size=32)
    result = evaluate_likelihood(model, ImageSet("x", "test", images[:20]), k=4, binarization="dynamic", seed=0, progress=False)
    assert 0 < result.iwae_nll <= result.neg_elbo + 1e-6


def test_recipes_import_nothing_of_zoos_models():
    for path in (BENCHMARKS / "recipes").glob("*.py"):
        text = path.read_text()
        assert "zoo.plugins" not in text and "zoo.gan" not in text, f"{path.name} must be written out, not borrowed"


def test_bars_are_the_issues(bench):
    fid_bar = bench.BARS["dcgan"]
    assert fid_bar.check({"fid": 8.0, "recall": 0.90}, {"fid": 10.0, "recall": 0.93})
    assert not fid_bar.check({"fid": 8.1, "recall": 0.95}, {"fid": 10.0, "recall": 0.93}), "FID above 0.8 times the reference's"
    assert not fid_bar.check({"fid": 5.0, "recall": 0.87}, {"fid": 10.0, "recall": 0.93}), "recall below the reference's minus 0.05"
    assert bench.BARS["cgan"].check({"fid": 10.0}, {"fid": 10.0}) and not bench.BARS["cgan"].check({"fid": 10.1}, {"fid": 10.0})
    assert not bench.BARS["vae"].check({"iwae_nll": 100.0}, {"iwae_nll": 100.0}), "the VAE must be strictly better"


def test_the_table_keeps_current_cells_and_judges_each_seed(bench, tmp_path):
    zoo_version, ref_version = bench.version(bench.CONTESTANTS["zoo:dcgan"]), bench.version(bench.CONTESTANTS["ref:dcgan"])

    def cell(key, version, seed, fid, recall, extractor="aaa"):
        scores = {"fid": fid, "recall": recall}
        return {"contestant": key, "steps": 100, "seed": seed, "version": version, "scores": scores, "extractor_sha256": extractor}

    results = tmp_path / "results.jsonl"
    lines = [
        cell("zoo:dcgan", "dcgan-0-config-stale", 0, 1.0, 1.0),  # an older zoo: not counted
        cell("zoo:dcgan", zoo_version, 0, 4.0, 0.9),
        cell("ref:dcgan", ref_version, 0, 10.0, 0.9),
        cell("zoo:dcgan", zoo_version, 1, 9.0, 0.9),
        cell("ref:dcgan", ref_version, 1, 10.0, 0.9),
        cell("ref:dcgan", ref_version, 0, 1.0, 1.0, extractor="bbb"),  # newest, but another classifier's features: not counted
    ]
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cells = bench.current(bench.read_results(results), extractor_sha256="aaa")
    assert cells["zoo:dcgan", 100, 0]["scores"]["fid"] == 4.0 and cells["ref:dcgan", 100, 0]["scores"]["fid"] == 10.0
    text = "\n".join(bench.table(cells, [100], None, ["dcgan"]))
    ratio_line = next(line for line in text.splitlines() if line.startswith("dcgan") and "ratio" in line)
    assert "0.650 ± 0.354" in ratio_line  # FID ratios 0.4 and 0.9 per seed
    assert "FAIL (1/2 seeds)" in ratio_line


def test_a_sweep_has_every_seed_at_the_first_budget_and_shares_contestants(bench):
    cells = bench.sweep(["cgan", "dcgan"], [2500, 10000], [0, 1])
    assert cells == [
        ("zoo:cgan", 2500, 0), ("zoo:dcgan", 2500, 0), ("ref:dcgan", 2500, 0),
        ("zoo:cgan", 2500, 1), ("zoo:dcgan", 2500, 1), ("ref:dcgan", 2500, 1),
        ("zoo:cgan", 10000, 0), ("zoo:dcgan", 10000, 0), ("ref:dcgan", 10000, 0),
    ]  # fmt: skip
    assert len(bench.sweep(["vae"], [2500, 10000], [0, 1], all_seeds=True)) == 8
