"""``zoo evaluate`` and the ``zoo features`` group whose extractors it measures with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from zoo.cli.options import device_option, flags_of, invocation, no_progress_option, request_fields, run_option, runs_dir_option, threads_option
from zoo.evaluation.evaluate import EvaluateRequest


@click.group("features")
def features_group() -> None:
    """Feature extractors for the sample-quality metrics (zoo.features entry points)."""


@features_group.command("list")
def features_list_command() -> None:
    """Installed extractors, and the classifiers trained so far."""
    from zoo import registry
    from zoo.features import cache_root

    for entry in registry.load_all(registry.FEATURES):
        label = f"{entry.name}:DATASET" if entry.status == "ok" and entry.obj.takes_argument else entry.name
        summary = entry.obj.summary if entry.status == "ok" else f"BROKEN: {entry.error}"
        click.echo(f"{label:<20} {summary}")
    folder = cache_root() / "features"
    trained = sorted(folder.glob("classifier-*/config.json")) if folder.is_dir() else []
    for path in trained:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            click.echo(f"  {record['extractor']:<18} {100 * record['heldout_accuracy']:.2f}% on {record['dataset']} {record['heldout_split']['name']}  ({path.parent})")
        except (OSError, ValueError, KeyError, TypeError):
            click.echo(f"  {path.parent.name:<18} damaged: train it again")


@features_group.command("train")
@click.option("--dataset", required=True, help="Labelled dataset to train the classifier on (its train split).")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for initialisation and batch order.")
@threads_option
@no_progress_option
def features_train_command(dataset: str, data_dir: str | None, epochs: int, seed: int, no_progress: bool) -> None:
    """Train classifier:DATASET, the domain classifier whose features the metrics use."""
    from zoo.features.classifier import train_classifier

    trained = train_classifier(dataset, data_dir=data_dir, epochs=epochs, seed=seed, progress=not no_progress)
    r = trained.record
    train, heldout = r["train_split"], r["heldout_split"]
    for split in (train, heldout):
        if split["note"]:
            click.echo(f"data: {split['note']}")
    click.echo(
        f"classifier:{dataset}: trained on {dataset} {train['name']} ({train['n']:,} images, {epochs} epochs, seed {seed}); "
        f"held-out accuracy {100 * r['heldout_accuracy']:.2f}% on {dataset} {heldout['name']} ({heldout['n']:,} images)"
    )
    click.echo(str(trained.path))


@click.command("evaluate")
@click.argument("name")
@run_option
@click.option("--dataset", default=None, help="Dataset to measure on [default: the run's own].")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files [default: the run's].")
@click.option(
    "--metrics",
    default=None,
    help="Comma list of nll, fid, kid, is, prdc, or for sequence models mse, bce [default: nll for likelihood models (plus the rest when the classifier is trained), mse,bce against the copy-last-frame baseline for sequence models, else fid,kid,is,prdc].",
)
@flags_of(EvaluateRequest)
@click.option("--record", is_flag=True, help="Also write the results into the catalog (registry.json).")
@click.option("--registry", "registry_path", type=click.Path(dir_okay=False), default="registry.json", show_default=True)
@device_option
@threads_option
@no_progress_option
@runs_dir_option
def evaluate_command(name: str, record: bool, registry_path: str, no_progress: bool, **kw: Any) -> None:
    """Sample quality (FID, KID, IS, precision/recall) and, for likelihood models, the NLL of a trained run;
    for sequence models (convlstm), per-frame forecast errors beside the copy-last-frame baseline."""
    from zoo.evaluation import catalog
    from zoo.evaluation.evaluate import evaluate_run, parse_metrics

    if record:
        catalog.read(Path(registry_path))  # a missing catalog is reported before the long computation
    request = EvaluateRequest(
        name,
        run=kw.pop("run"),
        dataset=kw.pop("dataset"),
        data_dir=kw.pop("data_dir"),
        metrics=parse_metrics(kw.pop("metrics")),
        device=kw.pop("device"),
        runs_dir=kw.pop("runs_dir"),
        command=invocation(),
        progress=not no_progress,
        **request_fields(EvaluateRequest, kw),
    )
    evaluation = evaluate_run(request)
    for line in evaluation.report(name):
        click.echo(line)
    if record:
        catalog.record_results(Path(registry_path), name, evaluation.results)
        click.echo(f"recorded {len(evaluation.results)} results for {name} in {registry_path}", err=True)


COMMANDS = [evaluate_command, features_group]
