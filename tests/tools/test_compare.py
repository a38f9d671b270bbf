"""`zoo compare`: two real tiny runs side by side, as text and as JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import assert_one_line_error, run_zoo
from zoo import runs
from zoo.runs import checkpoint, metrics_log
from zoo.tools.compare import FLOOR_LABEL, compare_runs
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("generator_width=8", "discriminator_width=8")
QUALITY_METRICS = ("fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "density", "coverage")


def quality_line(step: int, fid: float) -> dict:
    """An evaluate line of the sample-quality kind, as `zoo evaluate` writes them for GANs."""
    metrics = dict(zip(QUALITY_METRICS, (fid, 0.004, 0.001, 8.9, 0.1, 0.8, 0.7, 0.9, 0.8)))
    floor = dict(zip(QUALITY_METRICS, (0.5, 0.0, 0.0002, 9.8, 0.05, 0.9, 0.9, 1.0, 0.95)))
    return {
        "event": "evaluate", "step": step, "dataset": "mnist", "split": "test", "extractor": "classifier:mnist",
        "extractor_description": "CNN trained by zoo", "samples": 5000, "n_real": 1000, "floor_n": 500,
        "kid_subset_size": 500, "prdc_n": 1000, **metrics, "floor": floor, "time": 1.7e9,
    }  # fmt: skip


def append(run_dir: Path, *entries: dict) -> None:
    with open(run_dir / runs.METRICS, "a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry) + "\n")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two dcgan runs that differ in latent_dim (16 and 8) and in steps (10 and 12)."""
    root = tmp_path_factory.mktemp("runs")
    made = []
    for latent_dim, steps in ((16, 10), (8, 12)):
        options = TrainOptions(steps=steps, batch_size=32, log_every=5, sample_every=1000, progress=False)
        made.append(train(TrainRequest("dcgan", runs_dir=root, device="cpu", overrides=(*TINY, f"latent_dim={latent_dim}"), options=options)).run_dir)
    return made[0], made[1]


def row(table: str, label: str) -> list[str]:
    """The cells of the text table's row ``label`` (cells are separated by two spaces or more)."""
    for line in table.splitlines():
        if line.startswith(label + "  "):
            return re.split(r" {2,}", line[len(label):].strip())
    raise AssertionError(f"no row {label!r} in:\n{table}")


def test_the_table_names_the_differing_field_with_both_values_and_the_steps(two_runs, zoo_cli):
    a, b = two_runs
    result = zoo_cli("compare", str(a), str(b))
    assert result.exit_code == 0, result.stderr
    table = result.stdout
    assert row(table, "run") == [a.name, b.name]
    assert row(table, "model") == ["dcgan", "dcgan"]
    assert row(table, "status") == ["finished", "finished"]
    assert row(table, "steps") == ["10", "12"]
    assert row(table, "config.latent_dim") == ["16", "8"]
    assert "training.steps" not in table and "target steps" not in table, "both reached their targets: the steps row says it"
    assert row(table, "last losses") == ["mean of steps 6-10", "mean of steps 11-12"]
    assert len(row(table, "last loss_d")) == 2 and len(row(table, "wall time")) == 2
    assert all(cell.endswith(" s") for cell in row(table, "wall time"))
    assert "config.generator_width" not in table, "fields equal in both runs are left out"
    assert "created" not in table and "command" not in table


def test_json_holds_the_same_rows(two_runs, zoo_cli):
    a, b = two_runs
    result = zoo_cli("compare", str(a), str(b), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["path"] for r in data["runs"]] == [str(a), str(b)]
    rows = {r["label"]: r for r in data["rows"]}
    assert rows["config.latent_dim"]["values"] == [16, 8] and rows["config.latent_dim"]["field"] == "config.latent_dim"
    assert rows["steps"]["values"] == [10, 12]
    assert rows["wall time"]["unit"] == "s" and all(0 < v < 600 for v in rows["wall time"]["values"])
    losses = [runs.last_losses(a).values["loss_d"], runs.last_losses(b).values["loss_d"]]
    assert rows["last loss_d"]["values"] == losses
    text_labels = [line.split("  ")[0] for line in zoo_cli("compare", str(a), str(b)).stdout.splitlines() if not line.startswith("-")]
    assert [r["label"] for r in data["rows"]] == text_labels, "the table and the JSON hold the same rows"


def test_a_metric_row_shows_a_dash_for_the_run_that_lacks_it(two_runs, zoo_cli, tmp_path):
    a, b = two_runs
    evaluated = shutil.copytree(a, tmp_path / a.name)
    # the second line supersedes the first: same dataset, split and extractor
    append(evaluated, quality_line(10, fid=9.75), {"event": "warning", "step": 10, "message": "x"}, quality_line(10, fid=3.25))
    table = zoo_cli("compare", str(evaluated), str(b)).stdout
    label = "fid [classifier:mnist, mnist test]"
    assert row(table, label) == ["3.25", "-"]
    assert row(table, f"{label} real vs real (floor)") == ["0.5", "-"]
    assert row(table, "coverage [classifier:mnist, mnist test]") == ["0.8", "-"]
    assert row(table, "kid [classifier:mnist, mnist test]") == ["0.004 ± 0.001", "-"], "a mean and its std are one cell"
    assert row(table, f"is [classifier:mnist, mnist test] {FLOOR_LABEL}") == ["9.8 ± 0.05", "-"]
    assert not [line for line in table.splitlines() if line.startswith(("kid_", "is_"))], "no row of a bare mean or std"
    assert row(table, "evaluated [classifier:mnist, mnist test]") == ["step 10, samples 5000, n_real 1000, floor_n 500, kid_subset_size 500, prdc_n 1000", "-"]
    assert "9.75" not in table
    labels = [line.split(" [")[0] for line in table.splitlines()]
    context = {"samples", "n_real", "floor_n", "kid_subset_size", "prdc_n", "time", "step", "floor"}
    assert not context & set(labels), "context, not metrics"

    data = json.loads(zoo_cli("compare", str(evaluated), str(b), "--json").stdout)
    fid = next(r for r in data["rows"] if r["kind"] == "metric" and r["metric"] == "fid")
    assert fid["values"] == [3.25, None]
    assert (fid["dataset"], fid["split"], fid["extractor"]) == ("mnist", "test", "classifier:mnist")
    floor = next(r for r in data["rows"] if r["kind"] == "floor" and r["metric"] == "fid")
    assert floor["values"] == [0.5, None] and "std" not in floor
    kid = next(r for r in data["rows"] if r["kind"] == "metric" and r["metric"] == "kid_mean")
    assert kid["label"] == "kid [classifier:mnist, mnist test]" and kid["std_metric"] == "kid_std"
    assert kid["values"] == [0.004, None] and kid["std"] == [0.001, None]


def test_a_resumed_run_shows_the_steps_it_trained_and_the_target_it_resumed_to(two_runs, zoo_cli, tmp_path):
    """Resumed from 10 to 15 steps: config.json still says 10, and no row contradicts the 15."""
    a, b = two_runs
    resumed = shutil.copytree(a, tmp_path / a.name)
    result = zoo_cli("train", "dcgan", "--resume", str(resumed), "--steps", "15", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert runs.read_record(resumed).training["steps"] == 10
    table = zoo_cli("compare", str(resumed), str(b)).stdout
    assert row(table, "steps") == ["15", "12"]
    assert "training.steps" not in table and "target steps" not in table
    assert row(table, "last losses") == ["mean of steps 11-15", "mean of steps 11-12"]


def test_a_killed_run_shows_the_steps_it_logged_its_target_and_that_it_has_no_checkpoint(two_runs, zoo_cli, tmp_path):
    """SIGKILL leaves no time to checkpoint: the run's progress is in its log alone."""
    _, b = two_runs
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ZOO_THREADS": "1", "ZOO_RUNS_DIR": str(tmp_path)}
    tiny = [flag for setting in TINY for flag in ("--set", setting)]
    command = [sys.executable, "-m", "zoo", "train", "dcgan", "--steps", "100000", "--log-every", "5", "--checkpoint-every", "100000", "--no-progress", *tiny]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    try:
        while not any(metrics_log.training_lines(run) for run in tmp_path.glob("dcgan/*")):
            assert process.poll() is None and time.time() < deadline, process.communicate()
            time.sleep(0.05)
    finally:
        process.kill()
        process.communicate(timeout=60)
    (killed,) = tmp_path.glob("dcgan/*")
    logged = metrics_log.training_lines(killed)[-1]["step"]
    assert checkpoint.list_checkpoints(killed) == []
    table = zoo_cli("compare", str(killed), str(b)).stdout
    assert row(table, "status") == ["interrupted", "finished"]
    assert row(table, "steps") == [str(logged), "12"]
    assert row(table, "target steps") == ["100000", "12"]
    assert row(table, "newest checkpoint") == ["-", "12"]


def test_a_model_name_means_its_newest_run_and_one_run_is_one_column(two_runs, zoo_cli):
    a, b = two_runs
    result = zoo_cli("compare", "dcgan", str(a), "--runs-dir", str(b.parent.parent))
    assert result.exit_code == 0, result.stderr
    assert row(result.stdout, "run") == [b.name, a.name]
    single = compare_runs([a])
    assert [r.values for r in single.rows if r.label == "steps"] == [[10]]
    assert not [r for r in single.rows if r.kind == "config"], "one run differs from nothing"


def test_bad_runs_are_one_line_errors(two_runs, zoo_cli, tmp_path):
    a, _ = two_runs
    assert_one_line_error(zoo_cli("compare", str(a), str(tmp_path / "nowhere")), 1, "does not exist")
    assert_one_line_error(zoo_cli("compare", str(a), str(tmp_path)), 1, "is not a zoo run")
    empty = tmp_path / "empty-runs"
    assert_one_line_error(zoo_cli("compare", "vae", "--runs-dir", str(empty)), 1, "'vae' is neither a run directory nor a model with runs")
    failed = run_zoo("compare", str(tmp_path / "nowhere"))
    assert_one_line_error(failed, 1, "does not exist")
