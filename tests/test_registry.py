"""Discovery through real entry points: distributions with a .dist-info written to a temporary
site directory put on sys.path, exactly what pip leaves behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo import registry
from zoo.errors import UsageError
from zoo.testing import CHECKS

from support import assert_one_line_error, install_distribution, run_zoo

ROOT = Path(__file__).resolve().parents[1]

SMALL_GAN = '''
from zoo.plugins.dcgan import DCGAN

class SmallGAN(DCGAN):
    name = "small-gan"
    summary = "a third-party DCGAN variant"
'''


def test_a_third_party_plugin_is_listed_and_trains(site, runs_dir, zoo_cli):
    install_distribution(site, "zoo-small-gan", {"small-gan": "thirdparty_small:SmallGAN"}, {"thirdparty_small": SMALL_GAN})
    assert "small-gan" in zoo.list_models() and "dcgan" in zoo.list_models()
    rows = {r["name"]: r for r in json.loads(zoo_cli("list", "--json").stdout)}
    assert rows["small-gan"]["status"] == "ok" and rows["small-gan"]["distribution"] == "zoo-small-gan 1.0"
    assert rows["dcgan"]["distribution"].startswith("zoo ")
    result = zoo_cli("train", "small-gan", "--steps", "3", "--no-progress", "--set", "generator_width=4", "--set", "discriminator_width=4")
    assert result.exit_code == 0, result.stderr
    assert Path(result.stdout.strip()).parent.name == "small-gan"


@pytest.mark.battery("plugins")
def test_broken_plugins_are_listed_with_their_error_and_do_not_break_other_commands(site, zoo_cli):
    install_distribution(
        site,
        "zoo-broken",
        {
            "fails-import": "thirdparty_fails:Plugin",
            "not-a-plugin": "thirdparty_plain:Thing",
            "no-build": "thirdparty_nobuild:NoBuild",
            "wrong-name": "thirdparty_small2:SmallGAN",
            "bad-precisions": "thirdparty_fp8:Fp8GAN",
        },
        {
            "thirdparty_fails": "import a_module_that_is_not_installed\n",
            "thirdparty_plain": "class Thing:\n    name = 'not-a-plugin'\n",
            "thirdparty_nobuild": """
                from dataclasses import dataclass
                from zoo.contract import Plugin

                @dataclass
                class Config:
                    pass

                class NoBuild(Plugin):
                    name = "no-build"
                    summary = "forgot build"
                    family = "gan"
                    Config = Config
            """,
            "thirdparty_small2": SMALL_GAN,
            "thirdparty_fp8": """
                from zoo.plugins.dcgan import DCGAN

                class Fp8GAN(DCGAN):
                    name = "bad-precisions"
                    precisions = ("fp8",)
            """,
        },
    )
    listing = zoo_cli("list")
    assert listing.exit_code == 0
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert "BROKEN" in lines["fails-import"] and "No module named 'a_module_that_is_not_installed'" in lines["fails-import"]
    assert "BROKEN" in lines["not-a-plugin"] and "not a subclass of zoo.contract.Plugin" in lines["not-a-plugin"]
    assert "BROKEN" in lines["no-build"] and "does not implement build" in lines["no-build"]
    assert "BROKEN" in lines["wrong-name"] and "declares name 'small-gan'" in lines["wrong-name"]
    assert "BROKEN" in lines["bad-precisions"] and "precisions is ('fp8',); it must include 'fp32'" in lines["bad-precisions"]
    assert "BROKEN" not in lines["dcgan"]
    broken = {"fails-import", "not-a-plugin", "no-build", "wrong-name", "bad-precisions"}
    assert zoo.list_models() == sorted(set(zoo.list_models()) - broken)
    assert zoo_cli("info", "dcgan").exit_code == 0
    assert_one_line_error(zoo_cli("info", "fails-import"), 1, "model 'fails-import' from zoo-broken 1.0 is broken", "cannot import")


@pytest.mark.battery("plugins")
def test_two_distributions_claiming_one_name_are_reported(site, zoo_cli):
    install_distribution(site, "zoo-impostor", {"dcgan": "thirdparty_imp:SmallGAN"}, {"thirdparty_imp": SMALL_GAN})
    lines = [line for line in zoo_cli("list").stdout.splitlines() if line.startswith("dcgan")]
    assert len(lines) == 1 and "CONFLICT" in lines[0] and "zoo-impostor 1.0" in lines[0] and "zoo 0" in lines[0]
    assert_one_line_error(zoo_cli("info", "dcgan"), 2, "claimed by", "uninstall one")
    with pytest.raises(UsageError, match="claimed by"):
        zoo.get_model("dcgan")


def test_listing_does_not_import_torch_or_model_code():
    code = "import sys, zoo; names = zoo.list_models(); print(sorted(m for m in sys.modules if m == 'torch' or m.endswith('.model')), 'dcgan' in names)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] True"


def test_registry_reads_only_entry_points_for_builtins():
    """Built-ins register in pyproject.toml like anyone else: the core names no plugin module."""
    core = "".join(p.read_text() for p in (ROOT / "zoo").rglob("*.py"))
    assert "plugins.dcgan" not in core
    entry = registry.entries(registry.MODELS)["dcgan"]
    assert entry.value == "zoo.plugins.dcgan:DCGAN" and entry.distribution.startswith("zoo ")


@pytest.mark.slow
def test_example_plugin_package_installs_with_pip_and_works(tmp_path):
    target = tmp_path / "site"
    source = shutil.copytree(ROOT / "examples" / "zoo-plugin-example", tmp_path / "src")  # builds write into the tree
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    assert list(target.glob("zoo_plugin_example-*.dist-info/entry_points.txt"))
    env = {"PYTHONPATH": str(target), "ZOO_RUNS_DIR": str(tmp_path / "runs")}
    listing = run_zoo("list", "--json", env=env)
    row = next(r for r in json.loads(listing.stdout) if r["name"] == "mlp-gan")
    assert row["status"] == "ok" and row["distribution"].startswith("zoo-plugin-example ")
    trained = run_zoo("train", "mlp-gan", "--steps", "20", "--no-progress", env=env)
    assert trained.returncode == 0, trained.stderr
    sampled = run_zoo("sample", "mlp-gan", "-n", "4", "--seed", "0", "--out", str(tmp_path / "g.png"), env=env)
    assert sampled.returncode == 0, sampled.stderr
    assert (tmp_path / "g.png").is_file()
    exported = run_zoo("export", "mlp-gan", "--onnx", "--out", str(tmp_path / "g.onnx"), env=env)
    assert exported.returncode == 0, exported.stderr
    assert "max abs diff" in exported.stderr and (tmp_path / "g.onnx").is_file()
    # the package's own tests: the conformance kit, run against the installed plugin
    kit = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert f"{len(CHECKS)} passed" in kit.stdout


@pytest.mark.battery("plugins")
def test_a_plugin_that_exits_or_raises_anything_at_import_is_broken_not_fatal(site, zoo_cli):
    install_distribution(
        site,
        "zoo-exits",
        {"exits-at-import": "thirdparty_exits:Plugin", "raises-base": "thirdparty_base:Plugin"},
        {"thirdparty_exits": "import sys\nsys.exit(3)\n", "thirdparty_base": "raise GeneratorExit('odd')\n"},
    )
    listing = zoo_cli("list")
    assert listing.exit_code == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert "BROKEN" in lines["exits-at-import"] and "SystemExit: 3" in lines["exits-at-import"]
    assert "BROKEN" in lines["raises-base"] and "GeneratorExit: odd" in lines["raises-base"]
    assert "BROKEN" not in lines["dcgan"]
    assert zoo_cli("info", "dcgan").exit_code == 0
    assert_one_line_error(zoo_cli("train", "exits-at-import", "--steps", "1"), 1, "model 'exits-at-import' from zoo-exits 1.0 is broken", "SystemExit")


@pytest.mark.battery("plugins")
def test_a_plugin_whose_build_raises_is_named_in_one_line(site, runs_dir, zoo_cli):
    install_distribution(
        site,
        "zoo-bad-build",
        {"bad-build": "thirdparty_badbuild:BadBuild"},
        {
            "thirdparty_badbuild": """
                from zoo.plugins.dcgan import DCGAN

                class BadBuild(DCGAN):
                    name = "bad-build"

                    def build(self, config, data, device="cpu"):
                        raise RuntimeError("the authors forgot a layer")
            """
        },
    )
    result = zoo_cli("train", "bad-build", "--steps", "1", "--no-progress")
    assert_one_line_error(result, 1, "model 'bad-build' from zoo-bad-build 1.0 failed to build", "RuntimeError: the authors forgot a layer")
    assert not any(runs_dir.rglob("config.json")), "no run is left behind"
