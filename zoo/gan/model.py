"""A GAN as a zoo :class:`~zoo.contract.Model`: the shared update step, EMA, sampling and export.

A GAN plugin builds its two networks and hands them over; everything else is here::

    class DCGANModel(GANModel):
        def __init__(self, config, data, device="cpu"):
            super().__init__(config, data, device, Generator(...), Discriminator(...))

The generator maps ``z`` (and class labels, for a conditional GAN) to images in [-1, 1]; the
discriminator maps images (and labels) to one logit per image. Class attributes choose the
objective: ``loss`` (see :mod:`zoo.gan.losses`), ``n_critic`` (discriminator updates per
generator update: each trainer step is one discriminator update) and ``gradient_penalty``.
The shared config (:class:`zoo.gan.config.GANConfig`) adds the stability options: an EMA of
the generator, two learning rates, the R1 penalty and DiffAugment.
"""

from __future__ import annotations

import copy
import itertools
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.optim.swa_utils import AveragedModel

from zoo.contract import Batch, DataSpec, ExportGraph, Model, TensorSpec
from zoo.errors import UsageError
from zoo.gan import ema
from zoo.gan.augment import diff_augment
from zoo.gan.config import GANConfig, parse_policy
from zoo.gan.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty

PRECISE_BN_LATENTS = 256  # x H x W positions per channel: plenty for a mean and a variance


class GeneratorImage(nn.Module):
    """Latent (and label) -> image in [0, 1]: the generator as users and exporters see it."""

    def __init__(self, generator: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.generator, self.conditional = generator, conditional

    def forward(self, latent: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        out = self.generator(latent, label) if self.conditional else self.generator(latent)
        return (out + 1) / 2


class GANModel(Model):
    loss: ClassVar[str] = "nonsaturating"
    n_critic: ClassVar[int] = 1
    gradient_penalty: ClassVar[float] = 0.0
    # Sampling deep-copies the generator (inference_generator), which replicate() forbids, and
    # vaegan calls its discriminator's features()/score() rather than forward(), which replicate's
    # hooks never see; the GAN step does nothing with gradients between backward and step.
    data_parallel: ClassVar[str] = "optimizer"

    def __init__(
        self,
        config: GANConfig,
        data: DataSpec,
        device: torch.device | str,
        generator: nn.Module,
        discriminator: nn.Module,
        num_classes: int = 0,
    ) -> None:
        super().__init__(config, data, device)
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        self.num_classes = num_classes
        self.policy = parse_policy(config.diffaugment)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator_param_groups(config), lr=config.lr_generator, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_discriminator, betas=betas)
        self.ema: AveragedModel | None = None
        if config.ema_decay > 0:
            self.ema = ema.averaged(self.generator, config.ema_decay)
        self._inference: tuple[tuple[int, ...], GeneratorImage] | None = None

    def generator_param_groups(self, config: GANConfig) -> list[dict]:
        """The generator's Adam parameter groups; override to give some parameters their own
        rate (cgan's class-conditional gains). Called once ``self.generator`` is set."""
        return [{"params": list(self.generator.parameters())}]

    @property
    def modules(self) -> dict[str, nn.Module]:
        modules = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema is not None:
            modules["generator_ema"] = self.ema
        return modules

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    # -- the networks, with or without labels --------------------------------------------

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.generator(z, labels) if self.num_classes else self.generator(z)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        images = diff_augment(images, self.policy)
        return self.discriminator(images, labels) if self.num_classes else self.discriminator(images)

    # -- training --------------------------------------------------------------------------

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        real = batch.images * 2 - 1
        labels = batch.labels if self.num_classes else None
        if self.num_classes and labels is None:
            raise UsageError("a conditional GAN needs labelled images")
        self.generator.train()
        self.discriminator.train()
        z = torch.randn(real.shape[0], self.config.latent_dim, device=self.device)
        # One generator forward a step, as DCGAN's recipe does: D learns from the fakes
        # detached, then G from the same fakes through the updated D. On critic-only steps
        # (n_critic > 1) no graph is kept.
        updates_generator = step % self.n_critic == 0
        with torch.set_grad_enabled(updates_generator):
            fake = self.generate(z, labels)  # fakes of the real batch's classes

        losses = self.discriminator_step(real, fake.detach(), labels)
        if updates_generator:
            losses |= self.generator_step(fake, labels)
        return losses

    def discriminator_step(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        self.opt_d.zero_grad(set_to_none=True)
        logits_real = self.discriminate(real, labels)
        logits_fake = self.discriminate(fake, labels)
        loss = discriminator_loss(self.loss, logits_real, logits_fake)
        if self.gradient_penalty:
            loss = loss + self.gradient_penalty * gradient_penalty(lambda x: self.discriminate(x, labels), real, fake)
        if self.config.r1_gamma:
            loss = loss + self.config.r1_gamma / 2 * r1_penalty(lambda x: self.discriminate(x, labels), real)
        self.backward(loss)
        self.optimizer_step(self.opt_d)
        losses = {"loss_d": loss.item()}
        if self.loss == "wasserstein":
            losses["wasserstein_estimate"] = (logits_real.mean() - logits_fake.mean()).item()
        else:
            # logit 0 is the decision boundary of both the BCE and the hinge discriminator
            right = torch.cat([logits_real > 0, logits_fake < 0]).float().mean()
            losses["d_accuracy"] = right.item()
        return losses

    def generator_step(self, fake: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        """``fake``: this step's generated batch, still attached to the generator's graph."""
        self.opt_g.zero_grad(set_to_none=True)
        loss = generator_loss(self.loss, self.discriminate(fake, labels))
        self.backward(loss)
        self.optimizer_step(self.opt_g)
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        return {"loss_g": loss.item()}

    # -- sampling and export ---------------------------------------------------------------

    def inference_generator(self) -> GeneratorImage:
        """A plain-weight, eval-mode copy of the generator (its EMA when on) for sampling and export.

        Spectral-norm parametrisations are folded into plain weights (nothing left for an
        exporter to trace through the power iteration), and BatchNorm statistics are
        recomputed at the current weights from one fixed batch of latents ("precise BN", Wu &
        Johnson 2021): the running averages lag the weights far behind early in training.
        The copy is cached until a weight or buffer changes.
        """
        source = self.ema.module if self.ema is not None else self.generator
        # every in-place update (an optimizer step, an EMA update, a checkpoint load) bumps _version
        versions = tuple(t._version for t in itertools.chain(source.parameters(), source.buffers()))
        if self._inference is None or self._inference[0] != versions:
            generator = copy.deepcopy(source)
            for module in generator.modules():
                for name in list(getattr(module, "parametrizations", {})):
                    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
            self._recompute_batchnorm(generator)
            self._inference = (versions, GeneratorImage(generator, self.num_classes > 0).eval())
        return self._inference[1]

    @torch.no_grad()
    def _recompute_batchnorm(self, generator: nn.Module) -> None:
        norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the one batch below
        fixed = torch.Generator().manual_seed(0)
        z = torch.randn(PRECISE_BN_LATENTS, self.config.latent_dim, generator=fixed).to(self.device)
        labels = torch.arange(PRECISE_BN_LATENTS, device=self.device) % self.num_classes if self.num_classes else None
        generator.train()
        generator(z, labels) if self.num_classes else generator(z)
        generator.eval()

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        generator = self.noise_generator(seed)
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        labels = None
        if self.num_classes:
            if label is None:
                labels = torch.randint(0, self.num_classes, (n,), generator=generator)
            elif not 0 <= label < self.num_classes:
                raise UsageError(f"--label must be in [0, {self.num_classes}), got {label}")
            else:
                labels = torch.full((n,), label, dtype=torch.long)
            labels = labels.to(self.device)
        elif label is not None:
            raise UsageError("this GAN is unconditional: it takes no --label (cgan does)")
        return self.inference_generator()(z.to(self.device), labels).clamp(0, 1).cpu()

    def export_graphs(self) -> dict[str, ExportGraph]:
        label = (TensorSpec("label", (), dtype="int64", distribution=f"categorical:{self.num_classes}"),) if self.num_classes else ()
        return {
            "generator": ExportGraph(
                module=self.inference_generator(),
                inputs=(TensorSpec("latent", (self.config.latent_dim,)), *label),
                outputs=("image",),
                description="latent z ~ N(0, I)" + (" and class label" if label else "") + " -> image in [0, 1]",
            )
        }
