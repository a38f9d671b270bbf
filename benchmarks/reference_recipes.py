"""zoo's models against the published recipes they are named after, at equal budget, on MNIST.

Every contestant trains on the same 9,000 carved MNIST images of ``../shared/data/mnist`` for
the same number of *generator* steps at batch 64 and the same seed, and is scored by zoo's own
evaluators: sample quality (FID, KID, precision, recall, density, coverage) with the
``classifier:mnist`` features, ``-n`` samples against the 1,000 held-out images, beside the
real-vs-real floor; the IWAE bound (``zoo.evaluation.likelihood``) for the likelihood models.

Pairs and their bars (``BARS``):

* dcgan against the PyTorch examples' DCGAN (``recipes/dcgan.py``), wgan-gp against Gulrajani
  et al.'s MNIST setting (``recipes/wgan_gp.py``), sngan against the paper's standard CNN with
  the hinge loss (``recipes/sngan.py``): FID at most 0.8 times the reference's, recall no lower
  than the reference's minus 0.05;
* vae against the PyTorch examples' VAE (``recipes/vae.py``): a lower IWAE NLL;
* cgan against zoo's dcgan (labels must help, not hurt): FID at most dcgan's;
* vaegan against zoo's vae: sample FID at most 0.8 times vae's, its IWAE NLL reported beside vae's;
* draw, with and without attention (T = 16), beside vae, with the paper's 80.97 nats as anchor.

Each trained contestant is one *cell* (contestant, generator steps, seed). A finished cell is
appended at once to the results file (``benchmarks/results/reference_recipes.jsonl``, one JSON
object a line, with the commit, the contestant's version and the wall time), so a long
sweep can be stopped and continued, cells already measured at the contestant's current
version are skipped, and the table is assembled from the file. ``--jobs`` trains that many
cells at once, each in its own process with one thread (or on the GPU, ``--device cuda``).

    python benchmarks/reference_recipes.py                     # every pair, 2,500 (seeds 0, 1) and 10,000 (seed 0)
    python benchmarks/reference_recipes.py --pairs dcgan --budgets 2500 --seeds 0,1 --jobs 2
    python benchmarks/reference_recipes.py --table             # print the table from what is measured
    python benchmarks/reference_recipes.py --quick             # a smoke run: 30 steps, 500 samples, a scratch file

Not a test: a full sweep takes days of one CPU thread (wgan-gp's five critic steps with a
double backward dominate) and well under an hour on a GPU.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the recipes/ folder beside this script

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "reference_recipes.jsonl"
BATCH_SIZE = 64
QUALITY = ["fid", "kid", "prdc"]
PAPER_DRAW_NATS = 80.97  # Gregor et al. 2015, Table 2: DRAW with attention, T = 64, on 60,000 images


@dataclasses.dataclass(frozen=True)
class Contestant:
    """One trained thing: a zoo model (``zoo``: its name, ``overrides``) or a reference recipe."""

    key: str
    label: str
    zoo: str | None = None
    overrides: tuple[str, ...] = ()
    recipe: str | None = None
    n_critic: int = 1
    """Trainer steps per generator step (wgan-gp's critic iterations)."""
    likelihood: bool = False
    quality: bool = True


CONTESTANTS = {
    c.key: c
    for c in (
        Contestant("zoo:dcgan", "zoo dcgan", zoo="dcgan"),
        Contestant("ref:dcgan", "PyTorch examples DCGAN", recipe="dcgan"),
        Contestant("zoo:wgan-gp", "zoo wgan-gp", zoo="wgan-gp", n_critic=5),
        Contestant("ref:wgan-gp", "Gulrajani et al. MNIST WGAN-GP", recipe="wgan_gp"),
        Contestant("zoo:sngan", "zoo sngan", zoo="sngan"),
        Contestant("ref:sngan", "Miyato et al. SN standard CNN", recipe="sngan"),
        Contestant("zoo:cgan", "zoo cgan", zoo="cgan"),
        Contestant("zoo:vae", "zoo vae", zoo="vae", likelihood=True),
        Contestant("ref:vae", "PyTorch examples VAE", recipe="vae", likelihood=True),
        Contestant("zoo:vaegan", "zoo vaegan", zoo="vaegan", likelihood=True),
        Contestant("zoo:draw", "zoo draw (attention)", zoo="draw", likelihood=True, quality=False),
        Contestant("zoo:draw-whole", "zoo draw (no attention)", zoo="draw", overrides=("attention=false",), likelihood=True, quality=False),
    )
}


@dataclasses.dataclass(frozen=True)
class Bar:
    """``ours`` is held to ``theirs``: ``metric`` at most ``factor`` times theirs (likelihoods:
    strictly lower), and recall no lower than theirs minus ``recall_slack`` when that is set."""

    ours: str
    theirs: str
    metric: str
    factor: float = 1.0
    recall_slack: float | None = None
    strict: bool = False

    def check(self, ours: dict[str, float], theirs: dict[str, float]) -> bool:
        fine = ours[self.metric] < theirs[self.metric] if self.strict else ours[self.metric] <= self.factor * theirs[self.metric]
        if self.recall_slack is not None:
            fine = fine and ours["recall"] >= theirs["recall"] - self.recall_slack
        return fine

    def describe(self) -> str:
        if self.strict:
            text = f"{self.metric} < reference's"
        else:
            text = f"{self.metric} <= {self.factor:g} x" if self.factor != 1 else f"{self.metric} <="
            text += f" {CONTESTANTS[self.theirs].label}'s"
        if self.recall_slack is not None:
            text += f", recall >= its - {self.recall_slack:g}"
        return text


BARS = {
    "dcgan": Bar("zoo:dcgan", "ref:dcgan", "fid", 0.8, recall_slack=0.05),
    "wgan-gp": Bar("zoo:wgan-gp", "ref:wgan-gp", "fid", 0.8, recall_slack=0.05),
    "sngan": Bar("zoo:sngan", "ref:sngan", "fid", 0.8, recall_slack=0.05),
    "vae": Bar("zoo:vae", "ref:vae", "iwae_nll", strict=True),
    "cgan": Bar("zoo:cgan", "zoo:dcgan", "fid"),
    "vaegan": Bar("zoo:vaegan", "zoo:vae", "fid", 0.8),
    "draw": None,  # reported beside vae: no bar this time
}
PAIR_CONTESTANTS = {
    **{name: (bar.ours, bar.theirs) for name, bar in BARS.items() if bar is not None},
    "draw": ("zoo:draw", "zoo:draw-whole", "zoo:vae"),
}


# -- training a cell ------------------------------------------------------------------------


def version(contestant: Contestant) -> str:
    """What a measured cell must match to count: the plugin's version and config, or the recipe file's hash."""
    if contestant.recipe is not None:
        source = (ROOT / "benchmarks" / "recipes" / f"{contestant.recipe}.py").read_bytes()
        return "recipe-" + hashlib.sha256(source).hexdigest()[:12]
    from zoo import config as config_module
    from zoo.models import get_model

    plugin = get_model(contestant.zoo)
    config = config_module.apply_overrides(plugin.Config(), list(contestant.overrides))
    digest = hashlib.sha256(json.dumps(config_module.to_dict(config), sort_keys=True).encode()).hexdigest()[:12]
    return f"{contestant.zoo}-{plugin.version}-config-{digest}"


def train_zoo(contestant: Contestant, steps: int, seed: int, device: str, runs_dir: Path) -> tuple[Any, str]:
    """zoo's trainer, exactly as ``zoo train`` runs it; returns the loaded run and its command."""
    from zoo import runs
    from zoo.training.trainer import TrainOptions, TrainRequest, train

    trainer_steps = steps * contestant.n_critic
    sets = "".join(f" --set {o}" for o in contestant.overrides)
    command = f"zoo train {contestant.zoo} --dataset mnist --data-dir ../shared/data/mnist --steps {trainer_steps} --seed {seed}{sets}"
    options = TrainOptions(steps=trainer_steps, seed=seed, batch_size=BATCH_SIZE, progress=False, sample_every=10**9, checkpoint_every=10**9)
    result = train(TrainRequest(
        contestant.zoo, dataset="mnist", data_dir=MNIST_DIR, overrides=list(contestant.overrides), device=device,
        runs_dir=runs_dir, options=options, command=command,
    ))  # fmt: skip
    return runs.load(result.run_dir, device=device).model, command


def run_cell(key: str, steps: int, seed: int, n: int, k: int, device: str, grids: str | None, keep_runs: str | None) -> dict[str, Any]:
    """Train one contestant for ``steps`` generator steps and score it; the result file's line.

    A zoo contestant's run goes to a scratch folder, or under ``keep_runs`` to be sampled,
    evaluated and recorded later like any other run."""
    import contextlib
    import importlib

    from zoo.datasets import load_dataset
    from zoo.device import pick_device

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    code = commit()  # the code the cell started from; later commits may land while it trains
    contestant = CONTESTANTS[key]
    torch_device = pick_device(device)
    train_set = load_dataset("mnist", split="train", data_dir=MNIST_DIR)
    test_set = load_dataset("mnist", split="test", data_dir=MNIST_DIR)
    start = time.perf_counter()
    with contextlib.nullcontext(keep_runs) if keep_runs else tempfile.TemporaryDirectory() as runs_dir:
        if contestant.zoo is not None:
            model, command = train_zoo(contestant, steps, seed, str(torch_device), Path(runs_dir))
            draw = lambda count, s: model.sample(count, seed=s)  # noqa: E731
        else:
            recipe = importlib.import_module(f"recipes.{contestant.recipe}")
            trained, command = recipe.train(train_set.images, steps, seed, torch_device, BATCH_SIZE), None
            # a likelihood recipe returns its model, a GAN recipe its sampler
            model, draw = (trained, trained.sample) if contestant.likelihood else (None, trained)
        seconds = time.perf_counter() - start
        scores: dict[str, Any] = {}
        if contestant.quality:
            scores |= quality(draw, test_set, n, seed)
            if grids:
                from zoo.images import save_grid

                save_grid(draw(64, 0), Path(grids) / f"{key.replace(':', '_')}-{steps}-seed{seed}.png")
        if contestant.likelihood:
            from zoo.evaluation.likelihood import evaluate_likelihood

            result = evaluate_likelihood(model, test_set, k=k, binarization="dynamic", seed=0, progress=False)
            scores |= {"neg_elbo": result.neg_elbo, "iwae_nll": result.iwae_nll, "k": result.k}
    return {
        "contestant": key,
        "steps": steps,
        "seed": seed,
        "version": version(contestant),
        "scores": scores,
        "train_seconds": round(seconds, 1),
        "train_command": command,
        "extractor_sha256": classifier().record["sha256"] if contestant.quality else None,
        "device": str(torch_device),
        "threads": torch.get_num_threads(),
        "commit": code,
        "date": datetime.date.today().isoformat(),
    }


def quality(draw: Callable[[int, int], torch.Tensor], test_set: Any, n: int, seed: int) -> dict[str, float]:
    """zoo evaluate's sample-quality measurement (``zoo.evaluation.evaluate._quality``): the same extractor,
    batches of 250 each drawn with seed ``seed * 1_000_003 + index``, the same metric seeds."""
    from zoo.datasets.source import in_order
    from zoo.evaluation.sample_quality import extract, image_batches, sample_quality

    extractor = classifier()
    real = extract(extractor, (b.images for b in in_order(test_set, 250)), len(test_set), desc="real", progress=False)
    fake = extract(extractor, image_batches(lambda count, index: draw(count, seed * 1_000_003 + index), n, 250), n, desc="fake", progress=False)
    measured = sample_quality(real, fake, QUALITY, seed=seed)
    return {key: measured[key] for key in ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")}


def floor(n_real_seed: int = 0) -> dict[str, float]:
    """The metrics between two halves of the 1,000 held-out images: what a perfect generator scores."""
    from zoo.datasets import load_dataset
    from zoo.datasets.source import in_order
    from zoo.evaluation.sample_quality import extract, real_floor

    test_set = load_dataset("mnist", split="test", data_dir=MNIST_DIR)
    real = extract(classifier(), (b.images for b in in_order(test_set, 250)), len(test_set), desc="real", progress=False)
    return real_floor(real, QUALITY, seed=n_real_seed)


CLASSIFIER_DIR = ROOT / "benchmarks" / "classifier-mnist"
"""The ``classifier:mnist`` every cell is scored with, committed beside this script: a classifier
retrained on another CPU gives other features (the first one, ``5ff35a69``, was lost with the
machine it was cached on, and a retrain from the same seed on an AMD EPYC gave ``51201a71``)."""


def classifier():
    """The pinned ``classifier:mnist`` of :data:`CLASSIFIER_DIR`, loaded once per process."""
    from zoo.features.classifier import ClassifierFeatures

    global _CLASSIFIER
    if _CLASSIFIER is None:
        _CLASSIFIER = ClassifierFeatures.open("mnist", CLASSIFIER_DIR)
    return _CLASSIFIER


_CLASSIFIER = None


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# -- the results file and the table ----------------------------------------------------------


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def current(results: list[dict[str, Any]], extractor_sha256: str | None = None, *, earlier: bool = False) -> dict[tuple[str, int, int], dict[str, Any]]:
    """The newest cell of each (contestant, steps, seed) measured at the contestant's current
    version and, for sample quality, with the classifier at hand (``extractor_sha256``): FIDs in
    the features of two differently trained classifiers are not comparable. With ``earlier``,
    a cell the classifier at hand has not scored falls back to the newest one scored by another
    (the table shows them, and takes a ratio only between cells of one classifier)."""
    versions = {key: version(CONTESTANTS[key]) for key in {e["contestant"] for e in results} if key in CONTESTANTS}
    cells: dict[tuple[str, int, int], dict[str, Any]] = {}
    fallback: dict[tuple[str, int, int], dict[str, Any]] = {}
    for entry in results:
        if versions.get(entry["contestant"]) != entry["version"]:
            continue
        cell = entry["contestant"], entry["steps"], entry["seed"]
        scored_quality = CONTESTANTS[entry["contestant"]].quality
        if extractor_sha256 and scored_quality and entry.get("extractor_sha256") != extractor_sha256:
            fallback[cell] = entry
        else:
            cells[cell] = entry
    return {**fallback, **cells} if earlier else cells


def same_features(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether two cells' sample-quality scores share a feature space (likelihood-only cells
    have none and pair with anything)."""
    a, b = ours.get("extractor_sha256"), theirs.get("extractor_sha256")
    return a is None or b is None or a == b


def spread(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    text = f"{mean:.{digits}f}"
    return text + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def table(cells: dict[tuple[str, int, int], dict[str, Any]], budgets: list[int], floor_scores: dict[str, float] | None, pairs: list[str]) -> list[str]:
    """One block per pair and budget: each contestant's mean ± sd over seeds, then the ratios
    taken seed by seed (zoo / reference), and whether every seed meets the pair's bar."""
    lines = []
    quality_columns = [("FID", "fid", 2), ("KID", "kid_mean", 4), ("precision", "precision", 3), ("recall", "recall", 3), ("density", "density", 3), ("coverage", "coverage", 3)]
    likelihood_columns = [("-ELBO", "neg_elbo", 2), ("IWAE NLL", "iwae_nll", 2)]
    shown = [CONTESTANTS[key] for pair in pairs for key in PAIR_CONTESTANTS[pair]]
    columns = (quality_columns if any(c.quality for c in shown) else []) + (likelihood_columns if any(c.likelihood for c in shown) else [])
    header = f"{'pair':<8} {'steps':>6} {'contestant':<32} {'seeds':>5} " + " ".join(f"{name:>16}" for name, _, _ in columns) + "  bar"
    lines += [header, "-" * len(header)]
    for pair in pairs:
        members, bar = PAIR_CONTESTANTS[pair], BARS[pair]
        for steps in budgets:
            rows = {key: {seed: entry for (c, s, seed), entry in cells.items() if c == key and s == steps} for key in members}
            if not any(rows.values()):
                continue
            for key in members:
                seeds = sorted(rows[key])
                values = {metric: [rows[key][s]["scores"][metric] for s in seeds if metric in rows[key][s]["scores"]] for _, metric, _ in columns}
                cells_text = " ".join(f"{spread(values[metric], digits):>16}" for _, metric, digits in columns)
                lines.append(f"{pair:<8} {steps:>6} {CONTESTANTS[key].label:<32} {len(seeds):>5} {cells_text}")
            if bar is None:
                continue
            ours, theirs = rows[bar.ours], rows[bar.theirs]
            seeds = sorted(s for s in set(ours) & set(theirs) if same_features(ours[s], theirs[s]))
            ratios = {metric: [ours[s]["scores"][metric] / theirs[s]["scores"][metric] for s in seeds if metric in ours[s]["scores"] and theirs[s]["scores"].get(metric)] for _, metric, _ in columns}
            verdicts = [bar.check(ours[s]["scores"], theirs[s]["scores"]) for s in seeds]
            verdict = "-" if not seeds else ("pass" if all(verdicts) else "FAIL") + f" ({sum(verdicts)}/{len(seeds)} seeds): {bar.describe()}"
            ratio_text = " ".join(f"{spread(ratios[metric], 3):>16}" for _, metric, _ in columns)
            lines.append(f"{pair:<8} {steps:>6} {'ratio (zoo / reference)':<32} {len(seeds):>5} {ratio_text}  {verdict}")
        lines.append("")
    if floor_scores:
        text = " ".join(f"{spread([floor_scores[m]], d) if m in floor_scores else '-':>16}" for _, m, d in columns)
        lines.append(f"{'floor':<8} {'':>6} {'real vs real, 500 a side':<32} {'':>5} {text}")
    if "draw" in pairs:
        lines.append(f"(draw: the paper's {PAPER_DRAW_NATS} nats with attention at T = 64 on 60,000 images is the anchor; zoo's draw runs T = 16 on 9,000)")
    return lines


def describe_cells(cells: dict[tuple[str, int, int], dict[str, Any]]) -> list[str]:
    out = []
    for (key, steps, seed), entry in sorted(cells.items()):
        features = f", classifier {entry['extractor_sha256'][:8]}" if entry.get("extractor_sha256") else ""
        out.append(f"  {key:<16} {steps:>6} seed {seed}: {entry['train_seconds']:>8.0f} s on {entry['device']} ({entry['threads']} threads), {entry['commit']}, {entry['date']}{features}")
    return out


# -- the command line -------------------------------------------------------------------------


def sweep(pairs: list[str], budgets: list[int], seeds: list[int], all_seeds: bool = False) -> list[tuple[str, int, int]]:
    """The cells (contestant, steps, seed) of ``pairs``: every seed at the first budget, the
    first seed at later ones (or every seed everywhere), each shared contestant once."""
    cells: list[tuple[str, int, int]] = []
    for index, steps in enumerate(budgets):
        for seed in seeds if index == 0 or all_seeds else seeds[:1]:
            for pair in pairs:
                cells += [(key, steps, seed) for key in PAIR_CONTESTANTS[pair] if (key, steps, seed) not in cells]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=",".join(PAIR_CONTESTANTS), help=f"comma list of {', '.join(PAIR_CONTESTANTS)}")
    parser.add_argument("--budgets", default="2500,10000", help="generator steps, comma list")
    parser.add_argument("--seeds", default="0,1", help="seeds at the first budget; later budgets take the first seed alone")
    parser.add_argument("--all-seeds", action="store_true", help="every seed at every budget")
    parser.add_argument("--contestants", default=None, help=f"train only these of the pairs' contestants, comma list of {', '.join(CONTESTANTS)}")
    parser.add_argument("-n", type=int, default=5000, help="samples per contestant for the quality metrics")
    parser.add_argument("-k", type=int, default=1000, help="importance samples per test image for the IWAE bound")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="cells trained at once, each in its own process")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--rerun", action="store_true", help="train cells again even if measured at the current version")
    parser.add_argument("--table", action="store_true", help="only print the table of what is measured")
    parser.add_argument("--grids", default=None, help="folder to write a 64-sample grid of each contestant into")
    parser.add_argument("--keep-runs", default=None, help="runs folder to keep zoo's runs in (default: scratch folders, deleted)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 30 steps, 500 samples, k = 20, one seed, a scratch results file")
    args = parser.parse_args()

    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    unknown = [p for p in pairs if p not in PAIR_CONTESTANTS]
    if unknown:
        parser.error(f"unknown pair {', '.join(unknown)}; choose from {', '.join(PAIR_CONTESTANTS)}")
    only = None if args.contestants is None else [c.strip() for c in args.contestants.split(",") if c.strip()]
    if only is not None and (strangers := [c for c in only if c not in CONTESTANTS]):
        parser.error(f"unknown contestant {', '.join(strangers)}; choose from {', '.join(CONTESTANTS)}")
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        budgets, seeds, args.n, args.k = [30], seeds[:1], 500, 20
        args.results = Path(tempfile.mkdtemp()) / "reference_recipes.jsonl"
    wanted = sweep(pairs, budgets, seeds, args.all_seeds)

    extractor_sha256 = classifier().record["sha256"]
    if not args.table:
        done = set() if args.rerun else set(current(read_results(args.results), extractor_sha256))
        mine = [cell for cell in wanted if only is None or cell[0] in only]  # the table still shows every pair's cells
        todo = [cell for cell in mine if cell not in done]
        print(f"{len(todo)} cells to train ({len(mine) - len(todo)} already measured) into {args.results}", flush=True)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
            futures = {pool.submit(run_cell, key, steps, seed, args.n, args.k, args.device, args.grids, args.keep_runs): (key, steps, seed) for key, steps, seed in todo}
            for future in concurrent.futures.as_completed(futures):
                key, steps, seed = futures[future]
                entry = future.result()
                with args.results.open("a") as f:  # one write per line: sweeps running side by side append whole lines
                    f.write(json.dumps(entry) + "\n")
                print(f"{time.strftime('%H:%M:%S')} {key} {steps} steps seed {seed}: {entry['train_seconds']:.0f} s, {entry['scores']}", flush=True)

    cells = {cell: entry for cell, entry in current(read_results(args.results), extractor_sha256, earlier=True).items() if cell in wanted}
    print(f"classifier:mnist sha256 {extractor_sha256[:12]} ({CLASSIFIER_DIR.relative_to(ROOT)}); a cell it has not scored is shown as "
          "scored by an earlier one (the cells list names it), and a ratio is taken only between two cells of one classifier")
    print(f"\nMNIST, 9,000 carved train images, batch {BATCH_SIZE}; {args.n:,} samples against the 1,000 held-out images in classifier:mnist "
          f"features (KID over 100 subsets, PRDC with k = 5 on equal numbers); IWAE with k = {args.k}, test images binarised once (seed 0); "
          "mean ± sd over seeds; ratios per seed, then averaged")
    print("\n".join(table(cells, budgets, floor(), pairs)))
    print("cells:")
    print("\n".join(describe_cells(cells)))


if __name__ == "__main__":
    main()
