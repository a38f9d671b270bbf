"""``zoo list`` and ``zoo info``: the installed models and one model's config."""

from __future__ import annotations

import json

import click

from zoo.cli.options import json_option


@click.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List the installed models, including broken ones with their error."""
    from zoo.models import model_entries

    rows = []
    for entry in model_entries():
        plugin = entry.obj
        rows.append(
            {
                "name": entry.name,
                "status": entry.status,
                "family": getattr(plugin, "family", None) if entry.status == "ok" else None,
                "summary": getattr(plugin, "summary", None) if entry.status == "ok" else None,
                "distribution": entry.distribution,
                "entry_point": entry.value,
                "error": entry.conflict or entry.error,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no models installed")
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        if row["status"] == "ok":
            click.echo(f"{row['name']:<{width}}  {row['family']:<9}  {row['summary']}  [{row['distribution']}]")
        else:
            click.echo(f"{row['name']:<{width}}  {row['status'].upper():<9}  {row['error']}  [{row['distribution']}]")


@click.command("info")
@click.argument("name")
@json_option
def info_command(name: str, as_json: bool) -> None:
    """Show a model's config fields, defaults, datasets and exportable graphs."""
    from zoo import config as config_module
    from zoo import registry
    from zoo.models import get_model

    plugin = get_model(name)
    accepted = accepted_datasets(plugin)
    fields = config_module.describe(plugin.Config)
    entry = registry.entries(registry.MODELS)[name]
    info = {
        "name": plugin.name,
        "summary": plugin.summary,
        "family": plugin.family,
        "paper": plugin.paper,
        "version": plugin.version,
        "distribution": entry.distribution,
        "entry_point": entry.value,
        "conditional": plugin.conditional,
        "default_dataset": plugin.default_dataset,
        "datasets": [name for name, _ in accepted],
        "datasets_needing_labels": [name for name, needs_labels in accepted if needs_labels],
        "graphs": list(plugin.graphs),
        "precisions": list(plugin.precisions),
        "config": [{"name": f.name, "type": f.type, "default": config_module.jsonable(f.default), "help": f.help} for f in fields],
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['name']} ({info['family']}): {info['summary']}")
    if info["paper"]:
        click.echo(f"paper: {info['paper']}")
    click.echo(f"from: {info['distribution']} ({info['entry_point']}), plugin version {info['version']}")
    listed = [f"{d} (labelled ones)" if d in info["datasets_needing_labels"] else d for d in info["datasets"]]
    click.echo(f"datasets: {', '.join(listed)} (default {info['default_dataset']})")
    click.echo(f"conditional: {'yes (--label)' if info['conditional'] else 'no'}")
    click.echo(f"exportable graphs: {', '.join(info['graphs'])}")
    click.echo(f"trains in: {', '.join(info['precisions'])} (--precision)")
    click.echo("config (--set key=value):")
    width = max((len(f.name) for f in fields), default=0)
    for f in fields:
        click.echo(f"  {f.name:<{width}}  {f.type:<6} = {f.default!s:<8}  {f.help}")


def accepted_datasets(plugin) -> list[tuple[str, bool]]:
    """The installed datasets ``plugin`` trains on, by the rule ``zoo train`` applies
    (:func:`zoo.models.dataset_refusal`), each with whether only its labelled sets qualify:
    a source that may or may not have labels (``folder:``) is tried both ways. Broken
    dataset entry points are left out: nothing can train on them."""
    import zoo.datasets  # noqa: F401 - registers the check that a dataset entry point is a DatasetSource
    from zoo import registry
    from zoo.models import dataset_refusal

    accepted = []
    for entry in registry.load_all(registry.DATASETS):
        if entry.status != "ok":
            continue
        labelled = entry.obj.labelled
        fits = [has for has in ((True, False) if labelled is None else (labelled,)) if dataset_refusal(plugin, entry.name, entry.obj.kind, has) is None]
        if fits:
            accepted.append((entry.name, labelled is None and fits == [True]))
    return accepted


COMMANDS = [list_command, info_command]
