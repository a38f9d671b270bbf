"""VAE-GAN (Larsen, Sønderby, Larochelle & Winther 2016, arXiv:1512.09300).

A VAE whose decoder is also a GAN's generator. Pixel-wise reconstruction error is replaced by
an error in the discriminator's l-th layer, Dis_l: the posterior sample's decoding x~ must
look, to the discriminator's features, like the image x it came from. Three networks, three
losses, one step (the paper's Algorithm 1), with every gradient taken at the same weights:

    L_prior = KL(q(z|x) || N(0, I))
    L_llike = -log N(Dis_l(x) | Dis_l(x~), I)    (half the squared feature distance)
    L_GAN   = log D(x) + log(1 - D(x~)) + log(1 - D(Dec(z_p))),  z_p ~ N(0, I)

    encoder       <- grad(L_prior + L_llike)
    decoder       <- grad(gamma * L_llike - L_GAN)
    discriminator <- grad(L_GAN)

The encoder never sees L_GAN, and the discriminator never sees L_llike (that would let it
shrink its features to zero). L_GAN is played with the shared non-saturating losses, the
two kinds of fakes together making up the fake half.

The steps follow DCGAN's recipe rather than the paper's single simultaneous update: D first,
on the real batch and the fakes' batch apart (BatchNorm statistics of one kind each), then
the encoder and the decoder from the same forward, judged by the updated D. With the
paper's one update, all three kinds in one batch through D, D soon told every fake from the
real images; the authors' equilibrium rule (config ``margin``) then rested it on over 90% of
the steps, and the samples from the prior stayed blotches (MNIST FID 33.6 at 2,500 steps,
against 11.1 at 1,000 this way). The rule is kept, off by default.

Networks, sized from the image side as DCGAN's are: the image is halved by stride-2 4x4
convolutions down to a base of 4..8 pixels. The encoder (no normalisation, like zoo's VAE)
ends in a linear layer to the posterior's mean and log-variance. The decoder is zoo.gan.networks'
DCGAN generator (transposed convolutions, BatchNorm, ReLU, tanh); it decodes posterior and prior
latents in separate batches, so the prior's batches have the statistics that sampling's
precise BatchNorm recomputes. The discriminator is DCGAN's too (LeakyReLU, BatchNorm after
the first layer); Dis_l is its last convolution block's output, just before the 1-logit head,
taken from one batch of the real and the reconstructed images, so its BatchNorm normalises
the features that L_llike compares alike.

Its likelihood (``zoo evaluate``'s nll, the IWAE bound) reads the decoder's images as the
means of Bernoulli pixels, kept off 0 and 1: a looser bound than vae's, reported beside it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo import densities
from zoo.contract import Batch, DataSpec, LatentModel, LikelihoodModel
from zoo.conv_layout import pyramid, stage_padding, stage_widths
from zoo.errors import UsageError
from zoo.gan.losses import discriminator_loss, generator_loss, r1_penalty
from zoo.gan.model import GANModel
from zoo.gan.networks import DCGANDiscriminator, DCGANGenerator, dcgan_init
from zoo.plugins.vaegan.config import VAEGANConfig

EQUILIBRIUM = math.log(2)
BERNOULLI_EPS = 1 / 512
"""How far the likelihood keeps the decoder's pixel means from 0 and 1 (see ``log_weights``)."""


class Encoder(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, side: int) -> None:
        super().__init__()
        sides = pyramid(side, "vaegan")
        layers: list[nn.Module] = []
        previous = channels
        for larger, hidden in zip(reversed(sides[1:]), stage_widths(width, len(sides) - 1)):
            layers += [nn.Conv2d(previous, hidden, 4, 2, stage_padding(larger)[0]), nn.LeakyReLU(0.2, True)]
            previous = hidden
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(previous * sides[0] * sides[0], 2 * latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> posterior mean and log-variance, each (N, latent_dim)."""
        mean, logvar = self.head(self.convs(images)).chunk(2, dim=1)
        return mean, logvar


class VAEGANModel(GANModel, LatentModel, LikelihoodModel):
    """The decoder is the shared base's ``generator``: sampling, EMA and export come from GANModel."""

    pixel_model = "bernoulli"

    def __init__(self, config: VAEGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        if data.height != data.width:
            raise UsageError(f"vaegan needs square images, got {data.height}x{data.width}: pass --image-size")
        decoder = DCGANGenerator(config.latent_dim, config.decoder_width, data.channels, data.height, "vaegan")
        discriminator = DCGANDiscriminator(config.discriminator_width, data.channels, data.height, "vaegan")
        encoder = Encoder(config.latent_dim, config.encoder_width, data.channels, data.height)
        for net in (encoder, decoder, discriminator):
            net.apply(lambda m: dcgan_init(m, config.init_std))
        super().__init__(config, data, device, decoder, discriminator)
        self.latent_dim = config.latent_dim
        self.encoder = encoder.to(self.device)
        self.opt_e = torch.optim.Adam(self.encoder.parameters(), lr=config.lr_encoder, betas=(config.beta1, config.beta2))

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {**super().modules, "encoder": self.encoder}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**super().optimizers, "encoder": self.opt_e}

    # -- training --------------------------------------------------------------------------

    def balance(self, cost: float) -> tuple[bool, bool]:
        """Whether to update the discriminator and the decoder, by an equilibrium rule after the authors' code.

        ``cost`` is D's mean cross-entropy over real and fake images; ln 2 is a discriminator
        at chance. Far below it D is winning: rest D. Far above it D is losing: rest the
        decoder. Off by default (``margin`` 0): with D and the decoder stepped one after the
        other on separate batches, as DCGAN's recipe does, the game stays balanced without it.
        """
        margin = self.config.margin
        train_d = not margin or cost >= EQUILIBRIUM - margin
        train_g = not margin or cost <= EQUILIBRIUM + margin
        return train_d, train_g

    @staticmethod
    def _cost(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> float:
        """D's mean cross-entropy over the real and the fake images (ln 2 at chance)."""
        return (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()).item() / 2

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        for net in (self.encoder, self.generator, self.discriminator):
            net.train()
        real = batch.images * 2 - 1
        mean, logvar = self.encoder(real)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon, prior = self.generator(z), self.generator(torch.randn_like(z))
        fakes = torch.cat([recon, prior])

        # D first, on the real batch and the fakes' batch apart (each its own BatchNorm statistics)
        logits_real, logits_fake = self.discriminate(real, None), self.discriminate(fakes.detach(), None)
        loss_d = discriminator_loss(self.loss, logits_real, logits_fake)
        right = torch.cat([logits_real > 0, logits_fake < 0]).float().mean().item()
        # the rule is off by default: only then is D's cost needed here (and a device sync paid for it)
        train_d, train_g = self.balance(self._cost(logits_real, logits_fake)) if self.config.margin else (True, True)
        if train_d:
            if self.config.r1_gamma:
                loss_d = loss_d + self.config.r1_gamma / 2 * r1_penalty(lambda x: self.discriminate(x, None), real)
            self.opt_d.zero_grad(set_to_none=True)
            self.backward(loss_d)
            self.optimizer_step(self.opt_d)

        # Then the encoder and the decoder through the updated D. Dis_l of the real and the
        # reconstructed images in one batch, so D's BatchNorm normalises the two alike; the
        # images as they are, not as DiffAugment would show them to D.
        n = real.shape[0]
        features = self.discriminator.features(torch.cat([real, recon]))
        llike = 0.5 * (features[n:] - features[:n].detach()).pow(2).flatten(1).sum(1).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
        loss_g = generator_loss(self.loss, self.discriminate(fakes, None))
        # The encoder never sees L_GAN, and D never sees L_llike (it would shrink its features)
        updates = [(self.opt_e, self.encoder, kl + llike)]
        if train_g:
            updates.append((self.opt_g, self.generator, self.config.gamma * llike + loss_g))
        for optimizer, net, loss in updates:
            optimizer.zero_grad(set_to_none=True)
            self.backward(loss, inputs=list(net.parameters()), retain_graph=True)
        for optimizer, _, _ in updates:
            self.optimizer_step(optimizer)
        if train_g and self.ema is not None:
            self.ema.update_parameters(self.generator)

        pixel_error = F.mse_loss(recon.detach(), real).item() / 4  # as images in [0, 1]
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "kl": kl.item(),
            "recon_feature": llike.item(),
            "recon_mse": pixel_error,
            "d_accuracy": right,
            "d_updated": float(train_d),
            "g_updated": float(train_g),
        }

    # -- the likelihood ----------------------------------------------------------------------

    @torch.no_grad()
    def log_weights(self, batch: Batch, k: int) -> torch.Tensor:
        """Importance weights of the encoder's posterior under the decoder read as Bernoulli means.

        The decoder learnt from feature distances, never from a pixel likelihood, so nothing
        keeps its means off 0 and 1; they are squeezed into [eps, 1 - eps] (eps = 1/512),
        which caps a confidently wrong pixel at log(512), about 6.2 nats, instead of infinity.
        That makes a valid but looser bound than a VAE trained on the likelihood: it says how
        much of the binarised test images the decoder's images explain, beside vae's number.
        The images go through the decoder that sample() and decode() use (EMA, precise BN).
        """
        self.encoder.eval()
        x = batch.images.to(self.device)
        mean, logvar = self.encoder(x * 2 - 1)
        n = x.shape[0]
        z = mean + torch.randn(k, *mean.shape, device=self.device) * torch.exp(0.5 * logvar)  # (k, N, D)
        means = self.inference_generator()(z.reshape(k * n, -1)).clamp(0, 1) * (1 - 2 * BERNOULLI_EPS) + BERNOULLI_EPS
        log_px = -F.binary_cross_entropy(means, x.repeat(k, 1, 1, 1), reduction="none").flatten(1).sum(1).view(k, n)
        return log_px + densities.standard_normal_log_prob(z) - densities.normal_log_prob(z, mean, logvar)

    # -- the latent space ------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if labels is not None:
            raise UsageError("vaegan is unconditional: it takes no --label")
        self.encoder.eval()
        mean, logvar = self.encoder(images.to(self.device) * 2 - 1)
        return mean.cpu(), logvar.cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Through the same generator copy as sample() and export: the EMA when on, precise BatchNorm."""
        if labels is not None:
            raise UsageError("vaegan is unconditional: it takes no --label")
        return self.inference_generator()(latents.to(self.device)).clamp(0, 1).cpu()
