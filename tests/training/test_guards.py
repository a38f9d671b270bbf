"""The trainer's guards: a diverging run stops and keeps its last good checkpoint; collapse warns."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from support import run_zoo
from zoo import DataSpec, get_model, runs
from zoo.runs import checkpoint
from zoo.training.guards import CollapseWatch, nonfinite_parameter
from zoo.training.trainer import TrainOptions, TrainRequest, train


def events(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / runs.METRICS).read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == kind]


def test_a_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    """A learning rate of 1e6 blows the VAE's log-variance up: NaN at the second step."""
    result = run_zoo(
        "train", "vae", "--set", "lr=1e6", "--steps", "50", "--checkpoint-every", "1", "--no-progress",
        env={"ZOO_RUNS_DIR": str(tmp_path)},
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
    assert "training diverged at step 2: loss = nan" in lines[0]
    assert "the last good checkpoint, step 1, is kept" in lines[0]
    (run_dir,) = (tmp_path / "vae").iterdir()
    assert [step for step, _ in checkpoint.list_checkpoints(run_dir)] == [1], "nothing was saved after the NaN"
    loaded = runs.load(run_dir)
    assert loaded.step == 1 and bool(torch.isfinite(loaded.sample(4, seed=0)).all())
    assert events(run_dir, "diverged") == [{**events(run_dir, "diverged")[0], "step": 2, "reason": "loss = nan"}]


def test_a_nan_before_any_checkpoint_says_so(tmp_path):
    result = run_zoo("train", "vae", "--set", "lr=1e6", "--steps", "50", "--no-progress", env={"ZOO_RUNS_DIR": str(tmp_path)})
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr
    assert "training diverged at step 2" in errors[0] and "no checkpoint had been saved yet" in errors[0]


def test_a_non_finite_parameter_is_found_by_name():
    plugin = get_model("dcgan")
    model = plugin.build(plugin.Config(latent_dim=4, generator_width=4, discriminator_width=4), DataSpec(1, 16, 16))
    assert nonfinite_parameter(model) is None
    with torch.no_grad():
        model.discriminator.net[0].weight[0, 0, 0, 0] = float("inf")
    assert nonfinite_parameter(model) == "discriminator.net.0.weight"


def test_a_pinned_discriminator_and_identical_samples_are_warned_about(tmp_path, capsys):
    """DCGAN with D at a learning rate of 1e6 and G at 10: D wins every time and G, its tanh saturated, emits one image."""
    options = TrainOptions(steps=60, batch_size=32, progress=False, sample_every=60, collapse_patience=20)
    # no EMA: the collapsed generator itself is sampled, not an average of its states
    overrides = ["lr_generator=10", "lr_discriminator=1e6", "generator_width=8", "discriminator_width=8", "ema_decay=0"]
    run_dir = train(TrainRequest("dcgan", runs_dir=tmp_path, overrides=overrides, options=options)).run_dir
    warnings = {w["kind"]: w for w in events(run_dir, "warning")}
    assert set(warnings) == {"discriminator_pinned", "low_diversity"}
    pinned = warnings["discriminator_pinned"]
    assert pinned["step"] - pinned["since_step"] + 1 == 20, "warned once the streak reached the patience"
    assert warnings["low_diversity"]["step"] == 60 and warnings["low_diversity"]["ratio"] < 0.2
    assert "warning: step" in capsys.readouterr().err
    (diversity,) = events(run_dir, "diversity")
    assert diversity["data_diversity"] > 0


def test_collapse_watch_is_quiet_for_a_healthy_run():
    data = torch.rand(64, 1, 8, 8)
    watch = CollapseWatch(data, patience=3, floor=0.2)
    for step, accuracy in enumerate([1.0, 1.0, 0.5, 1.0, 1.0, 0.7], start=1):
        assert watch.after_step(step, {"d_accuracy": accuracy}) is None, "no streak reaches 3 steps"
    assert watch.after_step(7, {"loss": 1.0}) is None, "models without a discriminator are never pinned"
    (entry,) = watch.after_samples(7, torch.rand(64, 1, 8, 8))
    assert entry["event"] == "diversity" and 0.8 < entry["ratio"] < 1.2
    low = watch.after_samples(8, torch.rand(1, 1, 8, 8).expand(64, 1, 8, 8) + 0.01 * torch.rand(64, 1, 8, 8))
    assert [e["event"] for e in low] == ["diversity", "warning"]
