"""``zoo evaluate``: measure a trained run on a dataset split and keep the numbers.

The run's own dataset (and data folder) is used unless another is named, on its ``test``
split. Each evaluation appends one line to the run's ``metrics.jsonl`` (``"event":
"evaluate"``) and yields :class:`Result` entries in the shape ``registry.json`` keeps
(see :mod:`zoo.catalog`): what was measured, on what, by which command.

Today the measurements are the likelihood bounds of :mod:`zoo.likelihood`, for models that
define a likelihood.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from zoo import runs
from zoo.contract import LikelihoodModel
from zoo.errors import UsageError


CONDITIONAL_NOTE = "given each image's true class label: the bounds are on -log p(x | y)"


@dataclasses.dataclass
class Evaluation:
    run_dir: Path
    step: int
    dataset: str
    split: str
    note: str
    metrics: dict[str, Any]
    results: list[dict[str, Any]]
    """Entries for registry.json's ``results`` (one per headline number)."""

    def table(self) -> list[str]:
        m = self.metrics
        rows = [
            ("negative ELBO", m["neg_elbo"], m["neg_elbo_bpd"]),
            (f"IWAE NLL (k={m['iwae_k']})", m["iwae_nll"], m["iwae_nll_bpd"]),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'metric':<{width}}  {'nats/image':>10}  {'bits/dim':>8}"]
        lines += [f"{name:<{width}}  {nats:>10.2f}  {bpd:>8.4f}" for name, nats, bpd in rows]
        return lines


def evaluate_run(
    name: str,
    *,
    run: str | Path | None = "latest",
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    k: int = 1000,
    binarization: str = "dynamic",
    seed: int = 0,
    device: str = "cpu",
    runs_dir: str | Path | None = None,
    command: str | None = None,
    progress: bool = True,
) -> Evaluation:
    import zoo
    from zoo.device import pick_device
    from zoo.likelihood import evaluate_likelihood
    from zoo.models import get_model

    get_model(name)
    run_dir = runs.find(name, run, runs_dir)
    loaded = runs.load(run_dir, device=pick_device(device), model_name=name)
    if not isinstance(loaded.model, LikelihoodModel):
        raise UsageError(
            f"{name} defines no likelihood, and zoo evaluate measures likelihood today; "
            "sample-quality metrics (FID, KID) for GANs are not implemented yet"
        )
    data = loaded.data(split, dataset, data_dir)
    result = evaluate_likelihood(loaded.model, data, k=k, binarization=binarization, seed=seed, progress=progress)
    metrics = result.metrics()
    entry = {"event": "evaluate", "step": loaded.step, "dataset": data.name, "split": data.split, **metrics, "time": dt.datetime.now().timestamp()}
    with open(run_dir / runs.METRICS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
    common = {
        "unit": "nats/image",
        "dataset": data.name,
        "split": data.split,
        "split_note": data.note,
        "n": result.n,
        "binarization": result.binarization,
        **({"conditioning": CONDITIONAL_NOTE} if get_model(name).conditional else {}),
        "train_steps": loaded.step,
        "train_command": loaded.record.get("command"),
        "command": command or f"zoo evaluate {name} --run {run_dir}",
        "zoo_version": zoo.__version__,
        "date": dt.date.today().isoformat(),
    }
    results = [
        {"metric": "neg_elbo", "value": round(result.neg_elbo, 2), "bits_per_dim": round(metrics["neg_elbo_bpd"], 4), **common},
        {
            "metric": "iwae_nll",
            "value": round(result.iwae_nll, 2),
            "bits_per_dim": round(metrics["iwae_nll_bpd"], 4),
            "k": result.k,
            **common,
        },
    ]
    return Evaluation(run_dir, loaded.step, data.name, data.split, data.note, metrics, results)
