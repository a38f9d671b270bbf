"""Exporters: the ``zoo.exporters`` entry-point group and :func:`export_run`.

An exporter is an :class:`Exporter` subclass registered under ``zoo.exporters`` (the
built-in ONNX exporter is ``onnx = "zoo.exporters.onnx:ONNXExporter"``). It receives one
declared :class:`~zoo.contract.ExportGraph` of a trained model and writes one file, verified
before it is put in place: an export that fails verification leaves nothing at ``out``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from zoo import registry
from zoo.config import check_bounds, option
from zoo.digest import sha256_of
from zoo.errors import UsageError
from zoo.export.quality import QualityCheck

if TYPE_CHECKING:
    from zoo.runs import LoadedRun


@dataclasses.dataclass
class ExportSource:
    """Everything an exporter may record about where a graph came from."""

    model_name: str
    graph_name: str
    run_dir: Path
    checkpoint: Path
    checkpoint_sha256: str
    step: int
    image_shape: tuple[int, int, int]

    @classmethod
    def of_checkpoint(
        cls, model_name: str, graph_name: str, folder: Path, step: int, image_shape: tuple[int, int, int]
    ) -> "ExportSource":
        """The source for a checkpoint folder ``RUN/checkpoints/step-N`` (hashes its weights)."""
        from zoo.runs.checkpoint import WEIGHTS

        return cls(model_name, graph_name, folder.parent.parent, folder / WEIGHTS, sha256_of(folder / WEIGHTS), step, image_shape)

    @classmethod
    def of_run(cls, loaded: "LoadedRun", graph_name: str) -> "ExportSource":
        """The source for the checkpoint a run was loaded from, with the sha256 taken as it loaded."""
        from zoo.runs.checkpoint import WEIGHTS

        folder = loaded.checkpoint
        return cls(loaded.name, graph_name, loaded.path, folder / WEIGHTS, loaded.weights_sha256, loaded.step, loaded.model.data.shape)


@dataclasses.dataclass
class ExportReport:
    path: Path
    checks: dict[str, Any]
    """What verification measured, e.g. ``{"max_abs_diff": {"batch 1": 3e-7, ...}}``."""
    lines: list[str]
    """Human-readable summary lines for the CLI."""


class Exporter(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    suffix: ClassVar[str]
    """File name suffix, e.g. ``".onnx"``."""

    @abstractmethod
    def export(
        self,
        graph: Any,
        source: ExportSource,
        out: Path,
        quality: Callable[[], QualityCheck] | None = None,
        progress: Callable[[str], None] | None = None,
        **options: Any,
    ) -> ExportReport:
        """Write ``graph`` (an :class:`~zoo.contract.ExportGraph`) to ``out`` and verify it.

        ``quality``, when given, makes the run's :class:`QualityCheck` for this graph (which
        may take a while, and fails when the run cannot be judged): an exporter calls it only
        for a variant it cannot verify by parity, before doing the work.

        ``progress``, when given, is called with a short name for each stage as it begins
        (``"torch.onnx export"``, ``"onnx.checker"``, ...), once the options have been
        checked; the CLI shows the latest one on a transient line while the export runs.
        """


registry.register_validator(registry.EXPORTERS, lambda obj: registry.subclass_violations(obj, Exporter))


def get_exporter(name: str) -> Exporter:
    return registry.get(registry.EXPORTERS, name)()


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What ``zoo export`` asks of the exporter (the built-in onnx one takes all four). Each
    field is also the command's flag; only those set away from their defaults are passed on,
    so an exporter that takes none of them is given none."""

    opset: int | None = option(None, "ONNX opset [default: the exporter's, 18]; the exporter says which it supports.")
    optimize: bool = option(False, "Save onnxruntime's offline graph optimisation in the file.")
    fp16: bool = option(False, "Float16 weights and compute (for the CUDA provider); checked against PyTorch at 1e-2.")
    int8: bool = option(
        False, "Static int8 quantisation calibrated on the prior; checked by sample quality against fp32 (needs classifier:<dataset>)."
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.fp16 and self.int8:
            raise UsageError("--fp16 and --int8 make two different files; give one")

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != f.default}


def export_run(
    model_name: str,
    fmt: str,
    *,
    run: str | Path | None = "latest",
    graph: str | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> ExportReport:
    """Export a graph of a trained run (``zoo export NAME --onnx``); ``progress`` as in
    :meth:`Exporter.export`."""
    from zoo import runs
    from zoo.models import get_model

    plugin = get_model(model_name)
    exporter = get_exporter(fmt)
    graph_name = graph or plugin.graphs[0]
    if graph_name not in plugin.graphs:
        raise UsageError(f"{model_name} has no graph {graph_name!r}; it exports {', '.join(plugin.graphs)}")
    run_dir = runs.find(model_name, run, runs_dir)
    loaded = runs.load(run_dir, device="cpu", model_name=model_name)
    graphs = loaded.model.export_graphs()
    if graph_name not in graphs:
        raise UsageError(f"{model_name} declares graph {graph_name!r} but its model does not export it")
    out_path = Path(out) if out is not None else Path(default_name(model_name, graph_name, exporter.suffix, options))
    if out_path.suffix != exporter.suffix:
        raise UsageError(f"--out must end in {exporter.suffix}, got {str(out_path)!r}")
    source = ExportSource.of_run(loaded, graph_name)

    def quality() -> QualityCheck:
        from zoo.export.int8_judge import quality_check

        return quality_check(loaded, graphs[graph_name])

    return exporter.export(graphs[graph_name], source, out_path, quality=quality, progress=progress, **options)


VARIANT_TAGS = (("optimize", "optimized"), ("fp16", "fp16"), ("int8", "int8"))


def default_name(model_name: str, graph_name: str, suffix: str, options: dict[str, Any]) -> str:
    """``NAME-GRAPH[-optimized][-fp16|-int8]SUFFIX``: each variant has its own default file, so
    exporting one never replaces another."""
    tags = "".join(f"-{tag}" for key, tag in VARIANT_TAGS if options.get(key))
    return f"{model_name}-{graph_name}{tags}{suffix}"
