"""``make demo``: README's first command trains quietly and draws digits.

The Makefile's own recipe is run, line by line, with its ``$(BIN)`` pointing at this Python's
scripts, in a fresh folder: the 2,000 default steps of dcgan on the embedded digits (about a
minute on one core), then the 64-sample grid.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def demo_commands() -> list[list[str]]:
    """The ``demo`` target's recipe lines, with ``$(BIN)/`` resolved to this interpreter's scripts."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"demo\s*:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(shlex.split(line.strip().replace("$(BIN)/", str(Path(sys.executable).parent) + "/")))
    return recipe


@pytest.mark.slow
def test_make_demo_finishes_without_a_warning_and_draws_varied_digit_like_samples(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_RUNS_DIR", "ZOO_THREADS")}
    env["ZOO_THREADS"] = "1"  # the README's figure: one thread
    commands = demo_commands()
    assert [c[1] for c in commands] == ["train", "sample"], commands
    for command in commands:
        result = subprocess.run(command + ["--no-progress"] * (command[1] == "train"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr.lower(), result.stderr
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.width >= 8 * 112, "the grid is upscaled to be seen at a glance"
    (run_dir,) = (tmp_path / "runs" / "dcgan").iterdir()
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert not [e for e in log if e.get("event") == "warning"]
    final = [e for e in log if e.get("event") == "diversity"][-1]
    assert final["step"] == 2000
    # varied samples (healthy runs ~0.85, collapsed ~0.1) that lie as near the data as real digits do
    assert final["ratio"] > 0.5 and final["nearest_real_ratio"] < 1.5, final
