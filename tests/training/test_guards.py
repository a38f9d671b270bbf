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
    # its one image is no digit either: the last grid is also unlike the data
    assert set(warnings) == {"discriminator_pinned", "low_diversity", "unlike_data"}
    assert "mode collapse" in warnings["low_diversity"]["message"] and "posterior" not in warnings["low_diversity"]["message"]
    pinned = warnings["discriminator_pinned"]
    assert pinned["step"] - pinned["since_step"] + 1 == 20, "warned once the streak reached the patience"
    assert warnings["low_diversity"]["step"] == 60 and warnings["low_diversity"]["ratio"] < 0.2
    assert "warning: step" in capsys.readouterr().err
    (diversity,) = events(run_dir, "diversity")
    assert diversity["data_diversity"] > 0


def test_collapse_watch_is_quiet_for_a_healthy_run():
    data = torch.rand(64, 1, 8, 8)
    watch = CollapseWatch(data, patience=3, floor=0.2)
    assert watch.real_nearest is None, "64 images: none are left to set the scale of 'near the data'"
    for step, accuracy in enumerate([1.0, 1.0, 0.5, 1.0, 1.0, 0.7], start=1):
        assert watch.after_step(step, {"d_accuracy": accuracy}) is None, "no streak reaches 3 steps"
    assert watch.after_step(7, {"loss": 1.0}) is None, "models without a discriminator are never pinned"
    (entry,) = watch.after_samples(7, torch.rand(64, 1, 8, 8))
    assert entry["event"] == "diversity" and 0.8 < entry["ratio"] < 1.2
    low = watch.after_samples(8, torch.rand(1, 1, 8, 8).expand(64, 1, 8, 8) + 0.01 * torch.rand(64, 1, 8, 8))
    assert [e["event"] for e in low] == ["diversity", "warning"]


def test_a_vae_after_one_epoch_is_warned_of_posterior_collapse_in_its_own_words(zoo_cli, runs_dir):
    """One epoch of the embedded digits (25 steps): the KL is near zero and every reconstruction is the same blob."""
    result = zoo_cli("train", "vae", "--epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("warning: step 25: the posterior has collapsed: the KL to the prior is ")
    assert "reconstructions of 64 different images are" in warnings[0] and "the decoder ignores the latent code" in warnings[0]
    assert "mode collapse" not in result.stderr and "discriminator" not in result.stderr and "generator" not in result.stderr
    (run_dir,) = (runs_dir / "vae").iterdir()
    (warning,) = events(run_dir, "warning")
    assert warning["kind"] == "posterior_collapse" and warning["kl"] < 0.5 and warning["reconstruction_ratio"] < 0.1


def _variational_watch(kl: float) -> CollapseWatch:
    watch = CollapseWatch(torch.rand(128, 1, 8, 8), patience=3, floor=0.2)
    watch.after_step(1, {"loss": 100.0, "kl": kl})
    return watch


def test_a_vae_whose_code_is_used_but_whose_samples_look_alike_is_told_so_in_vae_words():
    samples = torch.full((64, 1, 8, 8), 0.5) + 0.01 * torch.rand(64, 1, 8, 8)
    entries = _variational_watch(kl=8.0).after_samples(5, samples, reconstructions=torch.rand(64, 1, 8, 8))
    (warning,) = [e for e in entries if e["event"] == "warning"]
    assert warning["kind"] == "low_diversity" and "the decoder draws near-average images from the prior" in warning["message"]
    assert "mode collapse" not in warning["message"]


def test_a_used_code_with_distinct_reconstructions_is_no_collapse():
    entries = _variational_watch(kl=8.0).after_samples(5, torch.rand(64, 1, 8, 8), reconstructions=torch.rand(64, 1, 8, 8), final=True)
    assert [e["event"] for e in entries] == ["diversity"]
    assert entries[0]["kl"] == 8.0 and 0.8 < entries[0]["reconstruction_ratio"] < 1.2 and 0.5 < entries[0]["nearest_real_ratio"] < 1.5


def test_samples_unlike_the_data_are_warned_about_at_the_last_grid_only():
    """Real images are smooth blobs; the generator still draws a checkerboard-like texture."""
    grid = torch.linspace(0, 1, 8)
    blobs = torch.stack([torch.exp(-((grid[:, None] - a) ** 2 + (grid[None, :] - b) ** 2) * 20) for a, b in torch.rand(128, 2)])[:, None]
    texture = (torch.rand(64, 1, 8, 8) > 0.5).float()
    watch = CollapseWatch(blobs, patience=1000, floor=0.1)
    watch.after_step(1, {"loss_d": 0.01, "d_accuracy": 1.0, "loss_g": 5.0})
    assert [e["event"] for e in watch.after_samples(1, texture)] == ["diversity"], "an early grid may still be noise"
    watch.after_step(2, {"loss_d": 0.01, "d_accuracy": 1.0, "loss_g": 5.0})
    entries = watch.after_samples(2, texture, final=True)
    (warning,) = [e for e in entries if e["event"] == "warning"]
    assert warning["kind"] == "unlike_data" and warning["nearest_real_ratio"] > 2
    assert "training ended with samples unlike the data" in warning["message"]
    assert "the discriminator told real from generated 100% of the time: the generator has not learned the data yet; train longer" in warning["message"]
    watch.after_step(3, {"loss_d": 0.01, "d_accuracy": 1.0, "loss_g": 5.0})
    healthy = watch.after_samples(3, blobs[64:], final=True)
    assert [e["event"] for e in healthy] == ["diversity"]
