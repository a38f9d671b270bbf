"""Shared fixtures: an isolated runs folder, the real MNIST test set, and the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"

# The suite has the machine to itself: its workers (pytest-xdist, see pyproject's addopts) share
# every core, as torch would use them by default, rather than each taking zoo's default for a
# shared machine (half of them, see zoo.threads), which the in-process CLI calls would
# otherwise set for the whole session.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("ZOO_THREADS", str(max(1, CORES // WORKERS)))
THREAD_VARIABLES = ("ZOO_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(autouse=True)
def threads_restored():
    """An in-process ``zoo ... --threads N`` sets the process's counts; the next test starts from the suite's own."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    count = torch.get_num_threads() if torch is not None else None
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count if count is not None else int(os.environ["ZOO_THREADS"]))

# Small networks keep the suite fast; the architecture is the same as the defaults'.
TINY_DCGAN = ("--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16")


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained feature classifiers go to a cache of the test session, never the user's own."""
    path = tmp_path_factory.mktemp("zoo-cache")
    previous = os.environ.get("ZOO_CACHE_DIR")
    os.environ["ZOO_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("ZOO_CACHE_DIR", None)
    else:
        os.environ["ZOO_CACHE_DIR"] = previous


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh runs folder, also exported as ZOO_RUNS_DIR (as a user would set it)."""
    path = tmp_path / "runs"
    monkeypatch.setenv("ZOO_RUNS_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST test set beside the project; on CI its absence is a failure, not a skip."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        message = f"the MNIST test set is missing: expected {MNIST_DIR}/t10k-images-idx3-ubyte.gz"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return MNIST_DIR


class Cli:
    """Runs ``zoo`` in-process through click's runner (stdout and stderr kept apart)."""

    def __call__(self, *args: str, env: dict[str, str] | None = None):
        from zoo.cli import cli

        return CliRunner().invoke(cli, list(args), obj={}, env=env, catch_exceptions=False)


@pytest.fixture
def zoo_cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def digits_classifier(isolated_cache: Path):
    """classifier:digits, trained once per session into the session's cache (a few seconds)."""
    from zoo.features.classifier import train_classifier

    return train_classifier("digits", epochs=8, progress=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site-packages folder on sys.path for third-party distributions (modules ``thirdparty_*``)."""
    from zoo import registry

    path = tmp_path / "site-packages"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    registry._loaded.clear()
    for module in [m for m in sys.modules if m.startswith("thirdparty_")]:
        del sys.modules[module]


# -- order: the files holding slow tests start first ------------------------------------------


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a test marked ``slow`` (minutes of training) go first, in their usual order.

    Each file runs on one worker (``--dist loadfile``), handed out in this order; a minutes-long
    file handed out last runs alone while the other workers idle, as ``test_demo.py`` did."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)


# -- the hardening battery: bad inputs and injected faults, counted by area ---------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    marker = item.get_closest_marker("battery")
    if marker is not None:
        outcome.get_result().user_properties.append(("battery", marker.args[0]))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line per area of the battery: how many cases ran and how many failed (a failed case
    may have reached the CLI's catch-all, printed a traceback or changed a file it should not)."""
    import collections

    ran: collections.Counter[str] = collections.Counter()
    failed: collections.Counter[str] = collections.Counter()
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            area = dict(getattr(report, "user_properties", [])).get("battery")
            if area is None:
                continue
            ran[area] += 1
            failed[area] += outcome != "passed"
    if ran:
        terminalreporter.section("hardening battery")
        for area in sorted(ran):
            terminalreporter.write_line(f"{area:<20} {ran[area]:>4} cases, {failed[area]} failed")
        terminalreporter.write_line(f"{'all':<20} {sum(ran.values()):>4} cases, {sum(failed.values())} failed")
