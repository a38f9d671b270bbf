"""The two installs: the default (CUDA wheels, onnxruntime-gpu) and the CPU-only one
(``make install CPU=1``: PyTorch's CPU wheels and plain onnxruntime), never both onnxruntimes."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from support import run_isolated, site_with_only

ROOT = Path(__file__).resolve().parents[1]
ONNXRUNTIMES = {"onnxruntime", "onnxruntime-gpu"}
PLATFORMS = {
    "linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macos arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
}


def onnxruntimes(extra: str | None, platform: dict[str, str]) -> set[str]:
    """The onnxruntime distributions ``pip install zoo[extra]`` asks for on ``platform``."""
    wanted = set()
    for line in metadata.requires("zoo") or []:
        requirement = Requirement(line)
        environment = {**platform, "extra": extra or ""}
        if requirement.name in ONNXRUNTIMES and (requirement.marker is None or requirement.marker.evaluate(environment)):
            wanted.add(requirement.name)
    return wanted


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_extra_asks_for_exactly_one_onnxruntime_and_zoo_alone_for_none(platform):
    environment = PLATFORMS[platform]
    assert onnxruntimes(None, environment) == set(), "a plain dependency could not be swapped for the other"
    assert onnxruntimes("cpu", environment) == {"onnxruntime"}
    assert onnxruntimes("gpu", environment) == ({"onnxruntime-gpu"} if platform == "linux x86_64" else {"onnxruntime"})


@pytest.mark.parametrize(("cpu", "index", "extra"), [("", False, "dev,gpu"), ("1", True, "dev,cpu")])
def test_make_install_takes_the_cpu_wheels_and_plain_onnxruntime_with_cpu_1(cpu, index, extra):
    plan = subprocess.run(["make", "-n", "-B", "install", f"CPU={cpu}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    torch_line = [line for line in plan.splitlines() if "install torch torchvision" in line]
    assert bool(torch_line) is index
    if index:
        assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line[0]
        assert plan.index(torch_line[0]) < plan.index("install -e"), "the CPU wheels first, so zoo's torch>= is already met"
    assert f"pip install -e '.[{extra}]'" in plan


def test_without_onnxruntime_generate_says_which_extra_to_install(tmp_path):
    site = site_with_only(tmp_path, ["numpy", "PIL", "pillow", "click"])
    (site / "zoo").symlink_to(ROOT / "zoo")
    model = tmp_path / "dcgan-generator.onnx"
    model.write_bytes(b"not read: onnxruntime is missing before any file is opened")
    argv = ["zoo", "generate", str(model), "-n", "4", "--out", str(tmp_path / "grid.png")]
    result = run_isolated(site, f"sys.argv = {argv!r}; from zoo.cli import main\nmain()")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "error: onnxruntime is not installed: pip install 'zoo[cpu]' for plain onnxruntime, or 'zoo[gpu]' for onnxruntime-gpu (CUDA)"
    )
    assert not (tmp_path / "grid.png").exists()
