"""The conformance kit: checks that a plugin, built-in or third-party, keeps the contract.

From a plugin package's own tests (pytest)::

    # tests/test_conformance.py
    from zoo.testing import conformance_suite

    test_conformance = conformance_suite("my-gan")   # one test per check

or from Python: ``zoo.testing.check_plugin("my-gan", workdir)`` runs every check and raises
:class:`ConformanceError` naming the first that fails. zoo's own suite runs the kit over every
registered model, so a new architecture is checked without new test code.

The checks, in order: the plugin registers and loads; its config has a default and help for
every field; it builds for each of its ``example_shapes``, takes a finite training step there
and gives samples (or forecasts) of that shape in [0, 1]; a few training steps on real images
give finite float losses that change; the same seed gives the same samples of the declared
shape and range, and different seeds differ; training under bf16 autocast (and, for a plugin
that lists fp16, fp16 with loss scaling) stays finite and fp16 updates go through the scaler;
torch.compile and channels-last order change no loss or sample; a checkpoint round trip
reproduces the samples;
every declared graph exports to ONNX, passes the parity check and runs through the torch-free
runtime. A sequence plugin (``data_kind = "sequences"``) trains on ``moving-digits`` sequences,
and its sample checks call ``predict`` on their first frames instead of ``sample``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Callable

from zoo.contract import Batch, DataSpec, Model, Plugin, SequenceModel

SEQUENCE_DATASET = "moving-digits"
"""Where sequence plugins get their real training data in the kit."""

class ConformanceError(AssertionError):
    """A plugin broke the contract; the message names the check and what was wrong."""

@dataclasses.dataclass
class Subject:
    """The plugin under test and a scratch folder for its files."""

    name: str
    workdir: Path

    @property
    def plugin(self) -> Plugin:
        from zoo.models import get_model

        return get_model(self.name)

    @property
    def sequences(self) -> bool:
        return self.plugin.data_kind == "sequences"

    def spec_for(self, shape: tuple[int, int, int]) -> DataSpec:
        """The data a plugin is built for: labelled images, or unlabelled moving-digits sequences."""
        if self.sequences:
            from zoo.datasets.moving_digits import FRAMES

            return DataSpec(*shape, num_classes=0, frames=FRAMES)
        return DataSpec(*shape, num_classes=10)

    @property
    def spec(self) -> DataSpec:
        return self.spec_for(self.plugin.example_shapes[0])

    def build(self, spec: DataSpec | None = None) -> Model:
        import torch

        plugin = self.plugin
        torch.manual_seed(0)
        return plugin.build(plugin.Config(), spec or self.spec, "cpu")

    def batches(self, n: int = 16, spec: DataSpec | None = None) -> list[Batch]:
        """Real images (the embedded digits), or moving-digits sequences, shaped like ``spec``, in three batches."""
        import torch

        from zoo.datasets import load_dataset

        spec = spec or self.spec
        name = SEQUENCE_DATASET if self.sequences else "digits"
        data = load_dataset(name, image_size=spec.height, channels=spec.channels)

        return [data.batch(torch.arange(i * n, (i + 1) * n)) for i in range(3)]

    def trained(self, max_steps: int = 12) -> Model:
        """A model after a few steps, enough that every module with parameters has moved.

        Some models update a module only every few steps (a GAN with ``n_critic`` critic
        updates per generator update); checks on samples, checkpoints and exports should see
        a generator that has been trained, not its initial weights.
        """
        import itertools

        import torch

        model = self.build()
        start = {name: [p.detach().clone() for p in m.parameters()] for name, m in model.modules.items()}
        waiting = {name for name, params in start.items() if params}
        batches = itertools.cycle(self.batches())
        for step in range(1, max_steps + 1):
            model.train_step(next(batches), step)
            for name in list(waiting):
                now = model.modules[name].parameters()
                if any(not torch.equal(a, b.detach()) for a, b in zip(start[name], now)):
                    waiting.discard(name)
            if step >= 2 and not waiting:
                break
        return model

CHECKS: dict[str, Callable[[Subject], None]] = {}

def check(fn: Callable[[Subject], None]) -> Callable[[Subject], None]:
    CHECKS[fn.__name__.removeprefix("check_")] = fn
    return fn

def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)

@check
def check_registers(subject: Subject) -> None:
    from zoo import registry

    entries = registry.entries(registry.MODELS)
    expect(subject.name in entries, f"{subject.name!r} is not registered under the zoo.models entry-point group")
    entry = entries[subject.name]
    expect(entry.conflict is None, str(entry.conflict))
    (loaded,) = [e for e in registry.load_all(registry.MODELS) if e.name == subject.name]
    expect(loaded.error is None, f"{subject.name} does not load: {loaded.error}")
    expect(isinstance(subject.plugin.summary, str) and subject.plugin.summary, "summary is empty")
    expect(len(subject.plugin.graphs) >= 1, "declares no exportable graph")

@check
def check_config(subject: Subject) -> None:
    from zoo import config

    config_cls = subject.plugin.Config
    for field in dataclasses.fields(config_cls):
        expect(
            field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING,
            f"config field {field.name!r} has no default",
        )
        expect(bool(field.metadata.get("help")), f"config field {field.name!r} has no help: declare it with zoo.config.option")
    defaults = config_cls()
    saved = json.loads(json.dumps(config.to_dict(defaults)))
    expect(config.from_dict(config_cls, saved) == defaults, "the config does not survive a JSON round trip")

@check
def check_builds(subject: Subject) -> None:
    import torch

    for shape in subject.plugin.example_shapes:
        model = subject.build(subject.spec_for(shape))
        expect(isinstance(model, Model), f"build returned {type(model).__name__}, not a zoo.contract.Model")
        if subject.sequences:
            expect(isinstance(model, SequenceModel), "data_kind is 'sequences' but the model is not a zoo.contract.SequenceModel")
        expect(len(model.modules) > 0, "Model.modules is empty: nothing would be saved in a checkpoint")
        expect(all(isinstance(m, torch.nn.Module) for m in model.modules.values()), "Model.modules holds non-modules")
        expect(all(isinstance(o, torch.optim.Optimizer) for o in model.optimizers.values()), "Model.optimizers holds non-optimizers")
        expect(
            set(model.export_graphs()) == set(subject.plugin.graphs),
            f"export_graphs() gives {sorted(model.export_graphs())}, the plugin declares {list(subject.plugin.graphs)}",
        )
        # every declared shape trains (one step, finite losses) and comes out as it went in
        spec = subject.spec_for(shape)
        losses = model.train_step(subject.batches(n=4, spec=spec)[0], 1)
        expect(all(math.isfinite(v) for v in losses.values()), f"at example shape {shape} a train step gives {losses}")
        if isinstance(model, SequenceModel):
            context = torch.zeros(2, model.context_frames, *shape)
            out, wanted = model.predict(context, horizon=1), (2, 1, *shape)
        else:
            out, wanted = model.sample(2, seed=0), (2, *shape)
        expect(tuple(out.shape) == wanted, f"at example shape {shape} the model gives {tuple(out.shape)}, expected {wanted}")
        expect(bool(out.min() >= 0) and bool(out.max() <= 1), f"at example shape {shape} the output leaves [0, 1]")

@check
def check_trains(subject: Subject) -> None:
    import torch

    model = subject.build()
    before = [p.detach().clone() for m in model.modules.values() for p in m.parameters()]
    history = []
    for step, batch in enumerate(subject.batches(), start=1):
        losses = model.train_step(batch, step)
        expect(isinstance(losses, dict) and losses, "train_step must return a non-empty dict of losses")
        for key, value in losses.items():
            expect(type(value) is float, f"loss {key!r} is a {type(value).__name__}, not a float (use .item())")
            expect(math.isfinite(value), f"loss {key!r} is {value} at step {step}")
        history.append(losses)
    expect(any(history[0][k] != h[k] for h in history[1:] for k in history[0]), "the losses do not change over three steps")
    after = [p.detach() for m in model.modules.values() for p in m.parameters()]
    expect(any(not torch.equal(a, b) for a, b in zip(before, after)), "train_step changes no parameter")

def _forecast_checks(subject: Subject, model: SequenceModel) -> None:
    import torch

    frames = subject.batches(n=4)[0].images
    context = frames[:, : model.context_frames]
    predicted = model.predict(context)
    shape = (4, model.horizon, *subject.spec.shape)
    expect(model.context_frames + model.horizon == subject.spec.frames, "context_frames + horizon is not the sequence length")
    expect(isinstance(predicted, torch.Tensor) and tuple(predicted.shape) == shape, f"predict gave {getattr(predicted, 'shape', predicted)}, expected {shape}")
    expect(predicted.dtype == torch.float32 and predicted.device.type == "cpu", "predictions must be float32 on the CPU")
    expect(predicted.min() >= 0 and predicted.max() <= 1, f"predictions leave [0, 1]: {predicted.min():.3g}..{predicted.max():.3g}")
    expect(torch.equal(predicted, model.predict(context)), "the same context gives different predictions")
    expect(not torch.equal(predicted, model.predict(context.flip(0))), "the prediction ignores the context")
    expect(model.predict(context, horizon=2).shape[1] == 2, "predict ignores its horizon argument")

@check
def check_samples(subject: Subject) -> None:
    import torch

    model = subject.trained()
    if isinstance(model, SequenceModel):
        _forecast_checks(subject, model)
        return
    images = model.sample(4, seed=0)
    shape = (4, *subject.spec.shape)
    expect(isinstance(images, torch.Tensor) and tuple(images.shape) == shape, f"sample(4) gave {getattr(images, 'shape', images)}, expected {shape}")
    expect(images.dtype == torch.float32 and images.device.type == "cpu", "samples must be float32 on the CPU")
    expect(images.min() >= 0 and images.max() <= 1, f"samples leave [0, 1]: {images.min():.3g}..{images.max():.3g}")
    expect(torch.equal(images, model.sample(4, seed=0)), "the same seed gives different samples")
    expect(not torch.equal(images, model.sample(4, seed=1)), "different seeds give the same samples")
    if subject.plugin.conditional:
        expect(not torch.equal(model.sample(4, seed=0, label=0), model.sample(4, seed=0, label=1)), "the label changes nothing")

@check
def check_precision(subject: Subject) -> None:
    """Training under bf16 autocast, and under fp16 autocast with loss scaling when the plugin
    lists fp16, keeps finite float losses (the numerics, checked on the CPU whatever its speed
    there) and leaves a model that still samples in fp32. In fp16 every update must go through
    the loss scaler: with an infinite scale every gradient overflows, so no parameter may move."""
    import torch

    from zoo.training import precision
    from zoo.errors import ZooError

    modes = ["bf16"] + (["fp16"] if "fp16" in subject.plugin.precisions else [])
    batches = subject.batches(n=8)[:2]
    for mode in modes:
        model = subject.build()
        precision.attach(model, mode)
        for step, batch in enumerate(batches, start=1):
            try:
                losses, _ = precision.train_step(model, batch, step, mode)
            except ZooError as exc:
                raise ConformanceError(str(exc)) from None
            for key, value in losses.items():
                expect(type(value) is float and math.isfinite(value), f"under {mode} autocast, loss {key!r} is {value!r} at step {step}")
        if isinstance(model, SequenceModel):
            out = model.predict(subject.batches(n=2)[0].images[:, : model.context_frames])
        else:
            out = model.sample(2, seed=0)
        expect(out.dtype == torch.float32 and bool(torch.isfinite(out).all()), f"after {mode} training the outputs are not finite float32")
    if "fp16" not in modes:
        return
    model = subject.build()
    model.loss_scaler = precision.LossScaler("cpu", init_scale=math.inf)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in model.modules.items()}
    _, skipped = precision.train_step(model, batches[0], 1, "fp16")
    expect(skipped >= 1, "with an infinite loss scale no optimizer step was reported skipped")
    for name, params in before.items():
        moved = any(not torch.equal(a, b.detach()) for a, b in zip(params, model.modules[name].parameters()))
        expect(not moved, f"with every fp16 gradient overflowing, module {name!r} still changed: an optimizer step bypasses self.optimizer_step")


@check
def check_compiles(subject: Subject) -> None:
    """Under torch.compile (dynamo's graph capture, run with the eager backend so the check is
    quick), and with channels-last weights and images, training and sampling give what the
    plain model gives (up to rounding)."""
    from zoo.training.compiling import channels_last_batch, compile_modules, to_channels_last

    compiled = subject.build()
    compile_modules(compiled, backend="eager")
    _same_as_plain(subject, compiled, "compiled", subject.batches(n=8)[:2])
    reordered = subject.build()
    to_channels_last(reordered)
    batches = [Batch(channels_last_batch(b.images), b.labels) for b in subject.batches(n=8)[:2]]
    _same_as_plain(subject, reordered, "in channels-last order", batches)


def _same_as_plain(subject: Subject, variant: Model, what: str, batches: list[Batch]) -> None:
    import torch

    plain = subject.build()
    for step, batch in enumerate(batches, start=1):
        torch.manual_seed(step)
        expected = plain.train_step(batch, step)
        torch.manual_seed(step)
        got = variant.train_step(batch, step)
        for key in expected:
            expect(math.isclose(expected[key], got[key], rel_tol=1e-3, abs_tol=1e-4), f"{what}, loss {key!r} is {got[key]!r} at step {step}, not {expected[key]!r}")
    if isinstance(plain, SequenceModel):
        context = batches[0].images[:, : plain.context_frames].contiguous()
        same = torch.allclose(plain.predict(context), variant.predict(context), atol=1e-4)
    else:
        same = torch.allclose(plain.sample(2, seed=0), variant.sample(2, seed=0), atol=1e-4)
    expect(same, f"{what}, the model draws different outputs")


@check
def check_checkpoint(subject: Subject) -> None:
    import torch

    from zoo.runs import checkpoint

    model = subject.trained()
    run_dir = subject.workdir / "checkpoint-run"
    folder = checkpoint.save(run_dir, model, step=2)
    restored = subject.build()
    checkpoint.load_weights(restored, folder)
    expect(checkpoint.load_training_state(restored, folder) == 2, "the checkpoint's step is not restored")
    if isinstance(model, SequenceModel):
        context = subject.batches(n=4)[1].images[:, : model.context_frames]
        expect(torch.equal(model.predict(context), restored.predict(context)), "a checkpoint round trip changes the predictions")
        return
    expect(torch.equal(model.sample(4, seed=3), restored.sample(4, seed=3)), "a checkpoint round trip changes the samples")

@check
def check_exports(subject: Subject) -> None:
    import numpy as np

    from zoo.runs import checkpoint
    from zoo.export import ExportSource, get_exporter
    from zoo.runtime import OnnxGenerator

    model = subject.trained()
    folder = checkpoint.save(subject.workdir / "export-run", model, step=2)
    exporter = get_exporter("onnx")
    for name, graph in model.export_graphs().items():
        source = ExportSource.of_checkpoint(subject.name, name, folder, 2, subject.spec.shape)
        report = exporter.export(graph, source, subject.workdir / f"{name}.onnx")
        runtime = OnnxGenerator(report.path, device="cpu")
        outputs = runtime.run(runtime.draw_inputs(3, seed=0))
        expect(len(outputs) == len(graph.outputs), f"graph {name!r} has {len(outputs)} outputs, declares {len(graph.outputs)}")
        expect(all(o.shape[0] == 3 for o in outputs), f"graph {name!r} does not keep the batch axis")
        for key, value in graph.metadata.items():
            expect(runtime.metadata.get(key) == value, f"graph {name!r}: metadata {key!r} is {runtime.metadata.get(key)!r} in the file, {value!r} in the model")
        if graph.outputs[0] == "image" and graph.value_range is not None:
            low, high = graph.value_range
            expect(outputs[0].shape == (3, *subject.spec.shape), f"graph {name!r} gives images of shape {outputs[0].shape}")
            expect(bool(np.all((outputs[0] >= low) & (outputs[0] <= high))), f"graph {name!r} leaves its value range")

def check_plugin(name: str, workdir: str | Path, only: list[str] | None = None) -> list[str]:
    """Run the checks (all, or ``only``) on plugin ``name``; return their names, raise on the first failure."""
    workdir = Path(workdir)
    passed = []
    for check_name, fn in CHECKS.items():
        if only is not None and check_name not in only:
            continue
        folder = workdir / check_name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fn(Subject(name, folder))
        except ConformanceError as exc:
            raise ConformanceError(f"{name}: check {check_name!r} failed: {exc}") from None
        passed.append(check_name)
    return passed

def conformance_suite(name: str) -> Any:
    """A pytest test function running each check on plugin ``name`` as its own test."""
    import pytest

    @pytest.mark.parametrize("check_name", list(CHECKS))
    def test_conformance(check_name: str, tmp_path: Path) -> None:
        check_plugin(name, tmp_path, only=[check_name])

    return test_conformance
