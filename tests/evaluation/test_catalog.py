"""zoo.evaluation.catalog: recorded commands carry no paths of the machine they were measured on."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.evaluation.catalog import portable_command, portable_text


def test_absolute_paths_become_relative_to_the_catalogs_folder(tmp_path: Path):
    base = tmp_path / "zoo"
    command = f"zoo evaluate dcgan --run {base}/runs/dcgan/x --registry={base}/registry.json --data-dir {tmp_path}/shared/mnist -n 10"
    assert portable_command(command, base) == (
        "zoo evaluate dcgan --run runs/dcgan/x --registry=registry.json --data-dir ../shared/mnist -n 10"
    )


def test_absolute_paths_in_a_note_become_relative_and_the_rest_of_it_stays(tmp_path: Path):
    base = tmp_path / "zoo"
    note = f"mnist has only its test split in {tmp_path}/shared/data/mnist; using a fixed 9,000 of 10,000 (1/10 held out)"
    assert portable_text(note, base) == "mnist has only its test split in ../shared/data/mnist; using a fixed 9,000 of 10,000 (1/10 held out)"


def test_relative_paths_and_unparseable_commands_are_left_as_typed(tmp_path: Path):
    assert portable_command("zoo train dcgan --data-dir ../shared/data/mnist", tmp_path) == "zoo train dcgan --data-dir ../shared/data/mnist"
    assert portable_command("zoo sample 'unbalanced", tmp_path) == "zoo sample 'unbalanced"


RECORDER = """
import sys
from pathlib import Path
from zoo.evaluation.catalog import record_results

path, worker = Path(sys.argv[1]), int(sys.argv[2])
for i in range(25):
    record_results(path, "dcgan", [{"metric": f"m{worker}-{i}", "dataset": "mnist", "split": "test", "extractor": None, "value": i}])
"""


@pytest.mark.battery("concurrency")
def test_four_processes_recording_at_once_lose_no_entry(tmp_path: Path):
    import json
    import subprocess
    import sys

    catalog = tmp_path / "registry.json"
    catalog.write_text(json.dumps({"models": [{"name": "dcgan", "results": []}]}))
    workers = [subprocess.Popen([sys.executable, "-c", RECORDER, str(catalog), str(w)]) for w in range(4)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0, 0]
    results = json.loads(catalog.read_text())["models"][0]["results"]
    assert sorted(r["metric"] for r in results) == sorted(f"m{w}-{i}" for w in range(4) for i in range(25))
