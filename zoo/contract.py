"""The plugin contract: what every architecture in the zoo implements.

An architecture is a :class:`Plugin` registered under the ``zoo.models`` entry-point group::

    [project.entry-points."zoo.models"]
    my-gan = "my_package:MyGAN"

The plugin object is light: importing it must not build networks (``zoo list`` loads every
plugin to check it). It declares metadata and a config dataclass, and implements one verb:

``build(config, data, device) -> Model``
    Create the networks and optimizers for images shaped like ``data``.

The built :class:`Model` implements the other two verbs:

``train_step(batch, step) -> dict[str, float]``
    One update. The trainer calls it once per step with a batch of images in [0, 1]; the
    model runs as many forward/backward/optimizer steps as its method needs (a GAN updates
    its discriminator and then its generator, a VAE takes one step) and returns its losses
    as plain floats. A model that calls ``self.backward(loss)`` and
    ``self.optimizer_step(optimizer)`` rather than ``loss.backward()`` and
    ``optimizer.step()`` (and ``self.unscale_gradients(optimizer)`` before clipping) can
    train in fp16, which needs a loss scaler between them; its plugin then lists ``"fp16"``
    in ``precisions``.
``sample(n, seed=None, label=None) -> Tensor``
    ``n`` images in [0, 1], shaped ``(n, C, H, W)``. The same seed gives the same images.

and declares what exporters need with ``export_graphs()``: for each named graph (by
convention ``"generator"``, latent -> image) a :class:`ExportGraph` with the module, its
inputs, output names and value range.

Everything that must survive a checkpoint lives in ``Model.modules`` (weights and buffers,
saved as safetensors) and ``Model.optimizers`` (optimizer state, saved as safetensors plus
JSON). The trainer, the run directory, the CLI and exporters only ever use this interface,
so a plugin knows nothing about them and they know nothing about a particular architecture.

Three optional capabilities extend a model, each an abstract subclass of :class:`Model` that
the core checks with ``isinstance``:

:class:`LatentModel` (``encode`` / ``decode`` and ``latent_dim``)
    An encoder q(z|x) and a decoder; ``zoo reconstruct``, ``interpolate``, ``traverse``,
    ``encode`` and ``decode`` work on any such model.
:class:`LikelihoodModel` (``log_weights`` and ``pixel_model``)
    A model of p(x) with an approximate posterior; ``zoo evaluate`` turns its importance
    weights into the negative ELBO and the importance-weighted (IWAE) bound.
:class:`SteppedModel` (``sample_steps``)
    A model that draws an image over several steps (DRAW's canvas); ``sample_steps(n, seed,
    label)`` gives the image after every step, ``(T, n, C, H, W)`` in [0, 1], the last equal
    to ``sample(n, seed, label)``. ``zoo sample NAME --animate`` writes them as a GIF.
:class:`SequenceModel` (``predict`` and ``context_frames``)
    A model of frame sequences that continues the frames it is given (ConvLSTM). Its plugin
    sets ``data_kind = "sequences"``: it trains on a sequence dataset (``moving-digits``),
    whose :class:`DataSpec` has ``frames > 0`` and whose batches are ``(N, T, C, H, W)``.
    ``predict(context)`` replaces ``sample``, which needs no input and so has no meaning
    here: ``zoo sample``, ``zoo evaluate``, the trainer's previews and the conformance kit
    take context frames from the data and call ``predict`` instead.

Image plugins need none of this: ``data_kind`` defaults to ``"images"``, ``frames`` to 0, and
the core refuses to pair a plugin with data of the other kind.

This module does not import torch at import time, so listing plugins stays fast.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import torch
    from torch import nn


class LossScaler(Protocol):
    """What a model's updates ask of fp16 loss scaling. The trainer sets one on the model
    (:class:`zoo.training.precision.LossScaler` is zoo's); the contract names only these three calls,
    so it depends on no part of training."""

    def backward(self, loss: "torch.Tensor", **kwargs: Any) -> None:
        """Backpropagate ``loss`` times the loss scale."""

    def unscale(self, optimizer: "torch.optim.Optimizer") -> None:
        """Divide ``optimizer``'s gradients by the loss scale, once per step."""

    def step(self, optimizer: "torch.optim.Optimizer") -> bool:
        """Step ``optimizer`` unless its gradients overflowed; whether it stepped."""


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """The shape of a dataset's images, and its number of classes (0 if unlabelled)."""

    channels: int
    height: int
    width: int
    num_classes: int = 0
    frames: int = 0
    """Frames per example for a sequence dataset (``moving-digits``); 0 for still images."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's (or one frame's) ``(C, H, W)``."""
        return (self.channels, self.height, self.width)

    @property
    def kind(self) -> str:
        """``"sequences"`` or ``"images"``, as :attr:`Plugin.data_kind` names them."""
        return "sequences" if self.frames > 0 else "images"


@dataclasses.dataclass
class Batch:
    """A training batch: ``images`` in [0, 1] and ``labels`` (N,) or None.

    ``images`` is ``(N, C, H, W)``, or ``(N, T, C, H, W)`` for a sequence dataset.
    """

    images: "torch.Tensor"
    labels: "torch.Tensor | None" = None


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input of an exported graph, without the batch axis.

    ``distribution`` says how to draw a valid input: ``"normal"`` (standard normal latents),
    ``"categorical:K"`` (integer class labels in [0, K)), or ``"uniform"`` (images in [0, 1]).
    Exporters use it to make verification inputs; the torch-free runtime to draw latents.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    distribution: str = "normal"

    def draw(self, batch: int, generator: "torch.Generator") -> "torch.Tensor":
        import torch

        size = (batch, *self.shape)
        if self.distribution == "normal":
            return torch.randn(size, generator=generator, dtype=getattr(torch, self.dtype))
        if self.distribution == "uniform":
            return torch.rand(size, generator=generator, dtype=getattr(torch, self.dtype))
        if self.distribution.startswith("categorical:"):
            classes = int(self.distribution.split(":", 1)[1])
            return torch.randint(0, classes, size, generator=generator, dtype=getattr(torch, self.dtype))
        raise ValueError(f"unknown distribution {self.distribution!r} for input {self.name!r}")


@dataclasses.dataclass
class ExportGraph:
    """What an exporter needs to trace one graph of a model.

    ``module(*inputs)`` must return the outputs named in ``outputs`` (a tensor, or a tuple of
    tensors in that order). Only the batch axis is dynamic; every other dimension is fixed.
    """

    module: "nn.Module"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...] = ("image",)
    value_range: tuple[float, float] | None = (0.0, 1.0)
    """The range of the first output when it is an image; None for other outputs."""
    description: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    """More facts an inference user needs, stored in the exported file (e.g. a forecaster's
    ``horizon``); JSON-serialisable values."""

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {name: {0: "batch"} for name in (*self.input_names, *self.outputs)}

    def example_inputs(self, batch: int = 2, seed: int = 0) -> tuple["torch.Tensor", ...]:
        import torch

        generator = torch.Generator().manual_seed(seed)
        return tuple(spec.draw(batch, generator) for spec in self.inputs)


class Model(ABC):
    """A built architecture: networks, optimizers, and the train/sample verbs."""

    data_parallel: ClassVar[str] = "replicate"
    """How ``zoo train`` on several processes (torchrun) averages this model's gradients over them.

    ``"replicate"``: ``torch.distributed._composable.replicate`` installs DDP's hooks on every
    module an optimizer trains, and averages its gradients during ``backward``, so whatever the
    model does between ``backward`` and ``optimizer.step()`` (clipping them, say) sees the
    gradient of the global batch. It needs each module called through ``forward`` (its other
    methods bypass the hooks) and never deep-copied, and every parameter of a module to get a
    gradient in each backward pass through it.
    ``"optimizer"``: an optimizer step pre-hook averages the gradients of the optimizer's
    parameters just before each ``optimizer.step()``; nothing else about the modules changes.
    For models that do not touch the gradients between ``backward`` and ``step``.
    Either way, every process must run the same sequence of updates: a choice that depends on
    a process's own batch stops the run with an error.
    """

    def __init__(self, config: Any, data: DataSpec, device: "torch.device | str" = "cpu") -> None:
        import torch

        self.config = config
        self.data = data
        self.device = torch.device(device)

    @property
    @abstractmethod
    def modules(self) -> dict[str, "nn.Module"]:
        """Every network whose weights and buffers belong in a checkpoint, by name."""

    @property
    @abstractmethod
    def optimizers(self) -> dict[str, "torch.optim.Optimizer"]:
        """Every optimizer whose state belongs in a checkpoint, by name."""

    @abstractmethod
    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        """One training update on ``batch`` (images in [0, 1]); return the losses as floats."""

    @abstractmethod
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> "torch.Tensor":
        """``n`` images in [0, 1], ``(n, C, H, W)``, on the CPU; deterministic for a seed."""

    @abstractmethod
    def export_graphs(self) -> dict[str, ExportGraph]:
        """The graphs an exporter can write, by name (``"generator"`` first)."""

    # -- updates: through these, zoo can scale the losses for fp16 training --------------

    loss_scaler: "LossScaler | None" = None
    """Set by the trainer for ``--precision fp16`` (a :class:`LossScaler`); None otherwise."""

    def backward(self, loss: "torch.Tensor", **kwargs: Any) -> None:
        """``loss.backward(**kwargs)``; in fp16, of the loss times the loss scale."""
        if self.loss_scaler is None:
            loss.backward(**kwargs)
        else:
            self.loss_scaler.backward(loss, **kwargs)

    def unscale_gradients(self, optimizer: "torch.optim.Optimizer") -> None:
        """Call before reading or changing the gradients of ``optimizer``'s parameters (clipping
        them): in fp16 they are multiplied by the loss scale until then. Otherwise a no-op."""
        if self.loss_scaler is not None:
            self.loss_scaler.unscale(optimizer)

    def optimizer_step(self, optimizer: "torch.optim.Optimizer") -> bool:
        """``optimizer.step()``; in fp16 the step is skipped when the gradients overflowed (and
        the scale lowered). Returns whether the step was taken."""
        if self.loss_scaler is None:
            optimizer.step()
            return True
        return self.loss_scaler.step(optimizer)

    def noise_generator(self, seed: int | None) -> "torch.Generator":
        """A CPU generator for sampling, so a seed gives the same images on every device."""
        import torch

        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        return generator


class LatentModel(Model):
    """A model with an encoder to a latent vector and a decoder back (VAEs and their kin)."""

    latent_dim: int

    @abstractmethod
    def encode(self, images: "torch.Tensor", labels: "torch.Tensor | None" = None) -> tuple["torch.Tensor", "torch.Tensor"]:
        """Posterior mean and log-variance, each ``(N, latent_dim)`` on the CPU, of images in [0, 1]."""

    @abstractmethod
    def decode(self, latents: "torch.Tensor", labels: "torch.Tensor | None" = None) -> "torch.Tensor":
        """Images in [0, 1] on the CPU (the mean of p(x|z)) for latents ``(N, latent_dim)``."""


class LikelihoodModel(Model):
    """A model of p(x) with an approximate posterior q(z|x), whose likelihood can be bounded."""

    pixel_model: str
    """``"bernoulli"`` (pixels are binary: evaluation binarises the data first) or
    ``"discrete-256"`` (8-bit pixels, evaluated as they are)."""

    @abstractmethod
    def log_weights(self, batch: Batch, k: int) -> "torch.Tensor":
        """``(k, N)`` importance weights log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x), in nats.

        ``batch.images`` are already in the form :attr:`pixel_model` says. The mean over ``k``
        estimates the ELBO; log-mean-exp over ``k`` is the IWAE bound (Burda et al. 2016).
        """


class SteppedModel(Model):
    """A model that builds each image over several steps, so the drawing can be watched."""

    @abstractmethod
    def sample_steps(self, n: int, seed: int | None = None, label: int | None = None) -> "torch.Tensor":
        """The ``n`` images after each of the model's T steps, ``(T, n, C, H, W)`` in [0, 1] on the CPU.

        The last step equals ``sample(n, seed, label)``: the same seed draws the same images.
        """


class SequenceModel(Model):
    """A model that continues a sequence of frames: it forecasts, given the first frames.

    Its plugin declares ``data_kind = "sequences"``; ``self.data.frames`` is the length of a
    training sequence, of which the first ``context_frames`` are the input and the rest
    (``horizon`` frames) the target.
    """

    context_frames: int
    horizon: int

    @abstractmethod
    def predict(self, context: "torch.Tensor", horizon: int | None = None) -> "torch.Tensor":
        """The ``horizon`` frames (default :attr:`horizon`) that follow ``context``.

        ``context`` is ``(N, context_frames, C, H, W)`` in [0, 1], on any device; the result is
        ``(N, horizon, C, H, W)`` in [0, 1] on the CPU. Deterministic: no seed is involved.
        """

    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> "torch.Tensor":
        from zoo.errors import UsageError

        raise UsageError(
            f"{type(self).__name__} continues sequences rather than drawing from noise: give it context "
            "frames with predict(context) (zoo sample takes them from the test split, or from --input)"
        )


class Plugin(ABC):
    """An architecture the zoo can build. Subclass it and register the class as an entry point.

    Class attributes are read without building anything (``zoo list``, ``zoo info``).
    """

    name: ClassVar[str]
    """The name users type, e.g. ``"dcgan"``; must equal the entry point's name."""
    summary: ClassVar[str]
    """One line for ``zoo list``."""
    family: ClassVar[str]
    """``"gan"``, ``"vae"``, ``"recurrent"``, ... for grouping in listings."""
    paper: ClassVar[str] = ""
    """Citation of the method, e.g. ``"Radford et al. 2016, arXiv:1511.06434"``."""
    version: ClassVar[str] = "0.1"
    """Bumped when saved weights stop being loadable; stored in every run's config.json."""
    Config: ClassVar[type]
    """A dataclass whose fields all have defaults and help (see :func:`zoo.config.option`)."""
    default_dataset: ClassVar[str] = "digits"
    graphs: ClassVar[tuple[str, ...]] = ("generator",)
    """Names of the graphs ``export_graphs()`` returns, known without building."""
    conditional: ClassVar[bool] = False
    """True when ``sample`` accepts a class ``label`` (needs a labelled dataset)."""
    data_kind: ClassVar[str] = "images"
    """``"images"``, or ``"sequences"`` for a :class:`SequenceModel` trained on frame sequences."""
    default_batch_size: ClassVar[int | None] = None
    """The batch ``zoo train`` uses when ``--batch-size`` is not given; None: the trainer's 64.
    A plugin whose examples are costly (a sequence of 20 frames) sets a smaller one."""
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16")
    """The ``--precision`` values the plugin trains in. bf16 autocast needs nothing from it; list
    ``"fp16"`` once every backward pass and optimizer step goes through :meth:`Model.backward`
    and :meth:`Model.optimizer_step` (and clipping follows :meth:`Model.unscale_gradients`),
    since fp16 needs a loss scaler between them."""
    example_shapes: ClassVar[tuple[tuple[int, int, int], ...]] = ((1, 16, 16),)
    """Image shapes ``(C, H, W)`` the plugin builds for; the conformance kit builds each, and
    trains, samples and exports the first."""

    @abstractmethod
    def build(self, config: Any, data: DataSpec, device: "torch.device | str" = "cpu") -> Model:
        """Create the networks and optimizers for images shaped like ``data``."""


REQUIRED_ATTRIBUTES = ("name", "summary", "family", "Config")
DATA_KINDS = ("images", "sequences")
PRECISIONS = ("fp32", "bf16", "fp16")
"""What ``--precision`` takes (:mod:`zoo.training.precision` refuses what the hardware lacks)."""


def contract_violations(plugin: Any) -> list[str]:
    """What a loaded entry-point object lacks to be a plugin (empty when it conforms)."""
    from zoo.registry import subclass_violations

    problems = subclass_violations(plugin, Plugin)
    if not (isinstance(plugin, type) and issubclass(plugin, Plugin)):
        return problems
    for attribute in REQUIRED_ATTRIBUTES:
        if not hasattr(plugin, attribute):
            problems.append(f"missing class attribute {attribute!r}")
    if getattr(plugin, "data_kind", "images") not in DATA_KINDS:
        problems.append(f"data_kind is {plugin.data_kind!r}; it must be one of {', '.join(DATA_KINDS)}")
    precisions = getattr(plugin, "precisions", ())
    if "fp32" not in precisions or not set(precisions) <= set(PRECISIONS):
        problems.append(f"precisions is {precisions!r}; it must include 'fp32' and list only {', '.join(PRECISIONS)}")
    config_cls = getattr(plugin, "Config", None)
    if config_cls is not None:
        if not dataclasses.is_dataclass(config_cls):
            problems.append("Config is not a dataclass")
        else:
            try:
                config_cls()
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                problems.append(f"Config() without arguments fails: {exc}")
    return problems
