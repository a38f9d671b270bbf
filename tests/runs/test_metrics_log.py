"""zoo.runs.metrics_log: the one writer and reader of a run's metrics.jsonl."""

from __future__ import annotations

import json

from zoo import runs
from zoo.runs import metrics_log


def test_appended_entries_read_back_in_order_and_training_lines_skip_events(tmp_path):
    metrics_log.append(tmp_path, {"step": 50, "loss_d": 0.7})
    metrics_log.append(tmp_path, {"event": "evaluate", "fid": 3.1})
    metrics_log.append(tmp_path, {"step": 100, "loss_d": 0.6})
    assert [e.get("step") for e in metrics_log.read(tmp_path)] == [50, None, 100]
    assert [e["step"] for e in metrics_log.training_lines(tmp_path)] == [50, 100]
    assert (tmp_path / runs.METRICS).read_text().count("\n") == 3, "one line per entry"


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
    assert runs.last_losses(tmp_path) == {"loss": 0.5}


def test_no_log_reads_as_empty(tmp_path):
    assert metrics_log.read(tmp_path) == [] and runs.last_losses(tmp_path) == {}
