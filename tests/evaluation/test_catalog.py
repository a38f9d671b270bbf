"""zoo.evaluation.catalog: recorded commands carry no paths of the machine they were measured on."""

from __future__ import annotations

from pathlib import Path

from zoo.evaluation.catalog import portable_command


def test_absolute_paths_become_relative_to_the_catalogs_folder(tmp_path: Path):
    base = tmp_path / "zoo"
    command = f"zoo evaluate dcgan --run {base}/runs/dcgan/x --registry={base}/registry.json --data-dir {tmp_path}/shared/mnist -n 10"
    assert portable_command(command, base) == (
        "zoo evaluate dcgan --run runs/dcgan/x --registry=registry.json --data-dir ../shared/mnist -n 10"
    )


def test_relative_paths_and_unparseable_commands_are_left_as_typed(tmp_path: Path):
    assert portable_command("zoo train dcgan --data-dir ../shared/data/mnist", tmp_path) == "zoo train dcgan --data-dir ../shared/data/mnist"
    assert portable_command("zoo sample 'unbalanced", tmp_path) == "zoo sample 'unbalanced"
