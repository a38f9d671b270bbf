"""zoo.runs.record: the typed, versioned run record that every verb reads a run's config.json through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo import runs
from zoo.errors import ZooError
from zoo.runs.record import SCHEMA, RunRecord
from zoo.training.trainer import ResumeRequest, resume


@pytest.fixture
def run_dir(trained: Path) -> Path:
    return trained  # read only here: the tests that change it work on copies


def _written(run_dir: Path) -> dict:
    return json.loads((run_dir / runs.CONFIG).read_text())


def test_a_new_run_writes_the_current_schema_and_reads_back_what_it_wrote(run_dir):
    written = _written(run_dir)
    assert written["schema"] == SCHEMA
    record = runs.read_record(run_dir)
    assert record.model == "dcgan" and record.dataset.name == "digits" and record.dataset.spec.channels == 1
    assert record.to_json() == written, "reading and writing again changes nothing"


def test_a_record_from_before_the_schema_reads_as_version_0_and_still_loads(run_dir, tmp_path):
    old = {k: v for k, v in _written(run_dir).items() if k != "schema"}
    copy = tmp_path / "old-run"
    copy.mkdir()
    (copy / runs.CONFIG).write_text(json.dumps(old))
    (copy / "checkpoints").symlink_to(run_dir / "checkpoints")
    assert runs.read_record(copy).schema == 0
    assert runs.load(copy).step == 3, "the trained fixture's steps"


@pytest.mark.battery("damaged runs")
@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda r: r.update(dataset="digits"), "dataset should be an object"),
        (lambda r: r["dataset"].pop("spec"), "dataset.spec is missing"),
        (lambda r: r["dataset"].update(spec=None), "dataset.spec should be an object"),
        (lambda r: r["dataset"]["spec"].update(height="28"), "dataset.spec.height should be int"),
        (lambda r: r["dataset"].update(size=True), "dataset.size should be int"),
        (lambda r: r.update(training=[]), "training should be an object"),
        (lambda r: r.pop("seed"), "seed is missing"),
    ],
)
def test_a_damaged_record_is_one_error_naming_the_key(run_dir, damage, named):
    record = _written(run_dir)
    damage(record)
    with pytest.raises(ZooError, match=named) as caught:
        RunRecord.from_json(record, run_dir / runs.CONFIG)
    assert "config.json" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.battery("damaged runs")
def test_resume_refuses_damaged_training_settings_before_building_anything(run_dir, tmp_path):
    copy = tmp_path / "damaged"
    copy.mkdir()
    record = _written(run_dir)
    record["training"]["log_every"] = 0
    (copy / runs.CONFIG).write_text(json.dumps(record))
    with pytest.raises(ZooError, match="training settings are damaged .*--log-every must be at least 1"):
        resume(ResumeRequest(copy, steps=4, device="cpu", progress=False))
