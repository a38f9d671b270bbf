"""`zoo runs`: one aligned row per run under a header, with the status, steps, headline metric and
last losses that the run's folder really holds, each state made for real by the trainer."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo import locks, runs
from zoo.runs import checkpoint, metrics_log
from zoo.training.trainer import TRAIN_LOCK

TINY = ("--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16")
SMALL_VAE = ("--set", "latent_dim=4", "--set", "width=4", "--set", "hidden=16")
COLUMNS = ("model", "run", "dataset", "status", "steps", "metric", "last losses (mean of the last logged interval)", "path")


def listing(zoo_cli, *args: str) -> list[dict[str, str]]:
    """``zoo runs`` read by the header's column positions: misaligned columns read as garbage."""
    result = zoo_cli("runs", *args)
    assert result.exit_code == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    starts = [header.index(name) for name in COLUMNS]
    assert starts == sorted(starts) and header.split() == " ".join(COLUMNS).split(), header
    rows = []
    for line in lines:
        cells = [line[a:b] for a, b in zip(starts, [*starts[1:], None])]
        assert all(cell.strip() and not cell.startswith(" ") for cell in cells), f"misaligned: {line!r} under {header!r}"
        assert all(cell.endswith("  ") for cell in cells[:-1]), f"no two-space gap: {line!r}"
        rows.append(dict(zip(COLUMNS, (cell.strip() for cell in cells))))
    return rows


def train(zoo_cli, *args: str) -> Path:
    result = zoo_cli("train", *args, "--no-progress")
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip())


def test_runs_are_listed_by_model_then_age_under_a_header_in_aligned_columns(runs_dir, zoo_cli):
    first = train(zoo_cli, "dcgan", "--steps", "12", "--log-every", "5", *TINY)
    vae = train(zoo_cli, "vae", "--steps", "4", *SMALL_VAE)
    second = train(zoo_cli, "dcgan", "--steps", "6", *TINY)
    # the newest run under the longest name, which sorts first by name: order is by creation
    renamed = second.with_name("a-run-folder-named-at-length-to-push-every-later-column-" + "x" * 30)
    second.rename(renamed)

    rows = listing(zoo_cli)
    assert [(r["model"], r["run"]) for r in rows] == [("dcgan", first.name), ("dcgan", renamed.name), ("vae", vae.name)]
    assert [r["status"] for r in rows] == ["finished"] * 3
    assert [r["steps"] for r in rows] == ["12/12", "6/6", "4/4"]
    assert [r["path"] for r in rows] == [str(first), str(renamed), str(vae)]
    assert all(r["metric"] == "-" for r in rows), "not evaluated"
    # the last interval of a 12-step run logged every 5 steps is steps 11-12: its line's means
    last = metrics_log.training_lines(first)[-1]
    assert last["step"] == 12
    assert rows[0]["last losses (mean of the last logged interval)"] == ", ".join(
        f"{k} {last[k]:.4g}" for k in ("loss_d", "d_accuracy", "loss_g")
    )

    entries = json.loads(zoo_cli("runs", "--json").stdout)
    assert [e["run"] for e in entries] == [r["run"] for r in rows]
    newest = entries[0]
    assert {k: newest[k] for k in ("status", "step", "target", "checkpoint_step", "metric", "losses_steps")} == {
        "status": "finished", "step": 12, "target": 12, "checkpoint_step": 12, "metric": None, "losses_steps": [11, 12],
    }  # fmt: skip
    assert newest["losses"] == {k: last[k] for k in ("loss_d", "d_accuracy", "loss_g")}
    assert newest["path"] == str(first) and newest["model"] == "dcgan" and newest["dataset"] == "digits"


def _wait(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 120
    while not condition():
        assert process.poll() is None, f"training stopped before {what}: {process.communicate()[1]}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.battery("signals")
def test_a_run_in_progress_shows_running_at_its_logged_step_then_interrupted_then_finished_at_its_resumed_target(runs_dir, zoo_cli):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ZOO_THREADS": "1"}
    command = [sys.executable, "-m", "zoo", "train", "dcgan", "--steps", "100000", "--log-every", "5", "--checkpoint-every", "100000", "--no-progress", *TINY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait(lambda: list(runs_dir.glob("dcgan/*/metrics.jsonl")) and metrics_log.training_lines(next(runs_dir.glob("dcgan/*"))), process, "a log line")
        run_dir = next(runs_dir.glob("dcgan/*"))
        (running,) = listing(zoo_cli)
        assert checkpoint.list_checkpoints(run_dir) == [], "nothing checkpointed yet: the steps come from the log"
        assert running["status"] == "running"
        logged, target = map(int, running["steps"].split("/"))
        assert logged >= 5 and logged % 5 == 0 and target == 100000
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr

    (interrupted,) = listing(zoo_cli)
    stopped_at = checkpoint.latest_checkpoint(run_dir)[0]
    assert interrupted["status"] == "interrupted" and interrupted["steps"] == f"{stopped_at}/100000" and stopped_at >= logged

    # to the second multiple of 5 after the stop: lines at both, the last one over its 5 steps
    target = (stopped_at // 5 + 2) * 5
    result = zoo_cli("train", "dcgan", "--resume", str(run_dir), "--steps", str(target), "--no-progress")
    assert result.exit_code == 0, result.stderr
    (finished,) = listing(zoo_cli)
    assert runs.read_record(run_dir).training["steps"] == 100000, "config.json keeps the target the run began with"
    assert finished["status"] == "finished" and finished["steps"] == f"{target}/{target}", "the resume's target"
    finish_line = next(line for line in result.stderr.splitlines() if line.startswith("finished at step"))
    losses = finished["last losses (mean of the last logged interval)"]
    assert finish_line == f"finished at step {target}: {losses} (mean of steps {target - 4}-{target})", (
        "zoo train's last line and zoo runs show the same last losses"
    )


def test_a_run_another_process_is_training_is_running_until_it_lets_go(runs_dir, zoo_cli):
    run_dir = train(zoo_cli, "dcgan", "--steps", "5", *TINY)
    with locks.locked(run_dir / TRAIN_LOCK, wait=False, what=f"run {run_dir}"):  # as the trainer holds it
        assert [r["status"] for r in listing(zoo_cli)] == ["running"]
    assert [r["status"] for r in listing(zoo_cli)] == ["finished"]


def test_a_diverged_run_is_failed(runs_dir, zoo_cli):
    """A learning rate of 1e6 blows the VAE up at step 2, before any line or checkpoint."""
    result = zoo_cli("train", "vae", "--set", "lr=1e6", "--steps", "50", "--no-progress", *SMALL_VAE)
    assert result.exit_code == 1 and "training diverged at step 2" in result.stderr
    (row,) = listing(zoo_cli)
    assert row["status"] == "failed" and row["steps"] == "0/50" and row["last losses (mean of the last logged interval)"] == "-"
    (entry,) = json.loads(zoo_cli("runs", "--json").stdout)
    assert entry["failure"] == "loss = nan"


def test_a_run_stopped_by_an_error_records_it_and_is_failed(runs_dir, zoo_cli):
    """A file-size limit makes the first checkpoint's write fail, the way a full disk does."""

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    command = [sys.executable, "-m", "zoo", "train", "dcgan", "--steps", "4", "--n-samples", "1", "--no-progress", *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ZOO_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, preexec_fn=limit_file_size)
    assert result.returncode == 1 and "File too large" in result.stderr.splitlines()[-1], result.stderr
    (row,) = listing(zoo_cli)
    assert row["status"] == "failed" and row["steps"] == "4/4", "logged to its end, but never checkpointed"
    (event,) = [e for e in metrics_log.read(Path(row["path"])) if e.get("event") == "failed"]
    assert event["step"] == 4 and "File too large" in event["reason"]
    assert "File too large" in json.loads(zoo_cli("runs", "--json").stdout)[0]["failure"]


def test_the_metric_is_the_newest_evaluations_fid_or_a_likelihood_models_iwae_nll(runs_dir, zoo_cli, digits_classifier):
    gan = train(zoo_cli, "dcgan", "--steps", "6", *TINY)
    vae = train(zoo_cli, "vae", "--steps", "4", *SMALL_VAE)
    for args in (
        ("dcgan", "--run", str(gan), "--metrics", "fid", "-n", "40"),
        ("vae", "--run", str(vae), "--metrics", "nll", "-k", "2"),
        ("vae", "--run", str(vae), "--metrics", "fid", "-n", "40"),  # newer, but a likelihood model's headline is its NLL
    ):
        result = zoo_cli("evaluate", *args, "--no-progress")
        assert result.exit_code == 0, result.stderr
    log = {run: [e for e in metrics_log.read(run) if e.get("event") == "evaluate"] for run in (gan, vae)}
    rows = {r["model"]: r for r in listing(zoo_cli)}
    assert rows["dcgan"]["metric"] == f"fid {log[gan][-1]['fid']:.4g}"
    assert rows["vae"]["metric"] == f"iwae_nll {log[vae][0]['iwae_nll']:.4g}"

    # trained on past the evaluation: the metric says which step it measured
    assert zoo_cli("train", "dcgan", "--resume", str(gan), "--steps", "8", "--no-progress").exit_code == 0
    rows = {r["model"]: r for r in listing(zoo_cli)}
    assert rows["dcgan"]["metric"] == f"fid {log[gan][-1]['fid']:.4g} @6" and rows["dcgan"]["steps"] == "8/8"
    metric = json.loads(zoo_cli("runs", "dcgan", "--json").stdout)[0]["metric"]
    assert metric == {"metric": "fid", "value": log[gan][-1]["fid"], "step": 6, "dataset": "digits", "split": "test", "extractor": "classifier:digits"}


def test_an_empty_folder_says_so(runs_dir, zoo_cli):
    result = zoo_cli("runs", "dcgan")
    assert result.exit_code == 0 and result.stdout.strip() == f"no runs under {runs_dir} for dcgan"
    assert json.loads(zoo_cli("runs", "--json").stdout) == []
