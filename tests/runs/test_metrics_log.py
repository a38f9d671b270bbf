"""zoo.runs.metrics_log: the one writer and reader of a run's metrics.jsonl."""

from __future__ import annotations

import json

import pytest

from zoo import runs
from zoo.runs import metrics_log


def test_appended_entries_read_back_in_order_and_training_lines_skip_events(tmp_path):
    metrics_log.append(tmp_path, {"step": 50, "loss_d": 0.7})
    metrics_log.append(tmp_path, {"event": "evaluate", "fid": 3.1})
    metrics_log.append(tmp_path, {"step": 100, "loss_d": 0.6})
    assert [e.get("step") for e in metrics_log.read(tmp_path)] == [50, None, 100]
    assert [e["step"] for e in metrics_log.training_lines(tmp_path)] == [50, 100]
    assert (tmp_path / runs.METRICS).read_text().count("\n") == 3, "one line per entry"


@pytest.mark.battery("metrics log")
def test_damaged_lines_are_skipped_not_fatal(tmp_path):
    good = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]
    (tmp_path / runs.METRICS).write_bytes(
        json.dumps(good[0]).encode() + b"\n"
        + b"\xff\xfe not utf-8\n"  # bytes from another encoding
        + b"[1, 2]\n"  # JSON, but not an object
        + b'{"step": 3, "lo'  # cut short by a crash...
        + b"\n" + json.dumps(good[1]).encode() + b"\n"
    )  # fmt: skip
    assert metrics_log.read(tmp_path) == good
    assert runs.last_losses(tmp_path).values == {"loss": 0.5}


def test_no_log_reads_as_empty(tmp_path):
    assert metrics_log.read(tmp_path) == [] and runs.last_losses(tmp_path).values == {}


@pytest.mark.battery("metrics log")
def test_training_lines_keep_whole_steps_and_numeric_values_only(tmp_path):
    for entry in ({"step": 2, "loss_d": 0.5, "note": "text"}, {"step": "x", "loss_d": 1.0}, {"step": True}, {"step": 4, "loss_d": [1, 2], "loss_g": float("nan")}):
        metrics_log.append(tmp_path, entry)
    assert metrics_log.training_lines(tmp_path) == [{"step": 2, "loss_d": 0.5}, {"step": 4}]


WEIRD_LINES = [
    {"step": "x", "loss_d": "abc"},
    {"step": 5, "loss_g": None, "loss_d": [1, 2]},
    {"event": "evaluate", "fid": "bad", "step": "q", "dataset": {"not": "text"}, "floor": [1]},
    {"step": 6, "time": "noon", "loss_d": {"a": 1}},
]


@pytest.mark.battery("metrics log")
def test_listing_comparing_and_reporting_survive_lines_of_the_wrong_types(tmp_path, zoo_cli):
    from zoo.training.trainer import TrainOptions, TrainRequest, train

    request = TrainRequest(
        "dcgan", overrides=("generator_width=8", "discriminator_width=8"), device="cpu", runs_dir=tmp_path, options=TrainOptions(steps=4, log_every=2, progress=False)
    )
    run_dir = train(request).run_dir
    for entry in WEIRD_LINES:
        metrics_log.append(run_dir, entry)
    for args in (["runs", "--runs-dir", str(tmp_path)], ["compare", str(run_dir), str(run_dir)], ["report", str(run_dir), "--out", str(tmp_path / "r.html")]):
        result = zoo_cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert "unexpected" not in result.stderr
    assert "dcgan" in zoo_cli("runs", "--runs-dir", str(tmp_path)).stdout
