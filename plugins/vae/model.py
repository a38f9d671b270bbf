"""Convolutional VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017; Burgess et al.
2018) and class-conditional VAE, as one model with config knobs.

The encoder halves the image with strided 4x4 convolutions down to a base of 4..8 pixels,
then a fully connected layer gives the mean and log-variance of a diagonal Gaussian
posterior. The decoder mirrors it with transposed convolutions and outputs, per pixel, the
logit of a Bernoulli (greyscale) or the mean and log-scale of a discretised logistic
(colour). A conditional model appends the one-hot label to the encoder's features and to z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo import densities
from zoo.contract import Batch, DataSpec, ExportGraph, LatentModel, LikelihoodModel, TensorSpec
from zoo.conv_layout import conv_layout
from zoo.errors import UsageError
from zoo.plugins.vae.config import VAEConfig

MAX_WIDTH_FACTOR = 8


def widths(width: int, halvings: int) -> list[int]:
    return [width * min(2**i, MAX_WIDTH_FACTOR) for i in range(halvings)]


class Encoder(nn.Module):
    """Images in [0, 1] (and labels) -> posterior mean and log-variance."""

    def __init__(self, config: VAEConfig, data: DataSpec, num_classes: int) -> None:
        super().__init__()
        base, halvings = conv_layout(data.height, "the VAE")
        channels = widths(config.width, halvings)
        layers: list[nn.Module] = []
        previous = data.channels
        for width in channels:
            layers += [nn.Conv2d(previous, width, 4, 2, 1), nn.ReLU(True)]
            previous = width
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.num_classes = num_classes
        self.head = nn.Sequential(
            nn.Linear(previous * base * base + num_classes, config.hidden),
            nn.ReLU(True),
            nn.Linear(config.hidden, 2 * config.latent_dim),
        )

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.convs(images * 2 - 1)
        if self.num_classes:
            features = torch.cat([features, F.one_hot(labels, self.num_classes).to(features.dtype)], dim=1)
        mean, logvar = self.head(features).chunk(2, dim=1)
        return mean, logvar


class Decoder(nn.Module):
    """Latents (and labels) -> per-pixel parameters of p(x|z): ``params_per_channel`` maps."""

    def __init__(self, config: VAEConfig, data: DataSpec, num_classes: int, params_per_channel: int) -> None:
        super().__init__()
        base, halvings = conv_layout(data.height, "the VAE")
        channels = widths(config.width, halvings)[::-1]
        self.base, self.top = base, channels[0]
        self.num_classes = num_classes
        self.head = nn.Sequential(
            nn.Linear(config.latent_dim + num_classes, config.hidden),
            nn.ReLU(True),
            nn.Linear(config.hidden, channels[0] * base * base),
            nn.ReLU(True),
        )
        layers: list[nn.Module] = []
        for width, following in zip(channels, channels[1:]):
            layers += [nn.ConvTranspose2d(width, following, 4, 2, 1), nn.ReLU(True)]
        layers.append(nn.ConvTranspose2d(channels[-1], data.channels * params_per_channel, 4, 2, 1))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            latents = torch.cat([latents, F.one_hot(labels, self.num_classes).to(latents.dtype)], dim=1)
        hidden = self.head(latents).view(-1, self.top, self.base, self.base)
        return self.deconvs(hidden)


class DecoderImage(nn.Module):
    """Latent (and label) -> the mean image in [0, 1]: the generator users and exporters see."""

    def __init__(self, decoder: Decoder, pixel_model: str) -> None:
        super().__init__()
        self.decoder, self.pixel_model = decoder, pixel_model

    def forward(self, latent: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        out = self.decoder(latent, label)
        if self.pixel_model == "bernoulli":
            return torch.sigmoid(out)
        mean, _ = out.chunk(2, dim=1)
        return ((mean + 1) / 2).clamp(0, 1)


class VAEModel(LatentModel, LikelihoodModel):
    def __init__(self, config: VAEConfig, data: DataSpec, device: torch.device | str = "cpu", conditional: bool = False) -> None:
        super().__init__(config, data, device)
        if data.height != data.width:
            raise UsageError(f"the VAE needs square images, got {data.height}x{data.width}: pass --image-size")
        if conditional and data.num_classes < 2:
            raise UsageError("a conditional VAE needs a labelled dataset (digits, mnist, fashion-mnist, cifar10)")
        likelihood_name = config.likelihood
        if likelihood_name == "auto":
            likelihood_name = "bernoulli" if data.channels == 1 else "logistic"
        self.pixel_model = "bernoulli" if likelihood_name == "bernoulli" else "discrete-256"
        self.latent_dim = config.latent_dim
        self.num_classes = data.num_classes if conditional else 0
        self.encoder = Encoder(config, data, self.num_classes).to(self.device)
        params = 1 if self.pixel_model == "bernoulli" else 2
        self.decoder = Decoder(config, data, self.num_classes, params).to(self.device)
        self.optimizer = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=config.lr)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.optimizer}

    # -- likelihood -------------------------------------------------------------------------

    def log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image from the decoder's output ``out``."""
        if self.pixel_model == "bernoulli":
            return densities.bernoulli_log_prob(out, x)
        mean, log_scale = out.chunk(2, dim=1)
        return densities.discretized_logistic_log_prob(mean, log_scale.clamp_min(-7.0), x)

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if batch.labels is None:
            raise UsageError("a conditional VAE needs labelled images")
        return batch.labels.to(self.device)

    def kl_weight(self, step: int) -> float:
        warmup = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup else 1.0)

    def capacity(self, step: int) -> float:
        return self.config.capacity_max * min(1.0, step / self.config.capacity_steps)

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        self.encoder.train()
        self.decoder.train()
        x = batch.images
        if self.pixel_model == "bernoulli" and self.config.binarize == "dynamic":
            x = torch.bernoulli(x)
        labels = self._labels(batch)
        mean, logvar = self.encoder(x, labels)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = -self.log_likelihood(self.decoder(z, labels), x).mean()
        kl = densities.kl_to_standard_normal(mean, logvar).sum(1).mean()
        if self.config.objective == "capacity":
            target = self.capacity(step)
            loss = recon + self.config.gamma * (kl - target).abs()
            extra = {"capacity": target}
        else:
            weight = self.kl_weight(step)
            loss = recon + weight * kl
            extra = {"kl_weight": weight}
        self.optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.optimizer_step(self.optimizer)
        return {"loss": loss.item(), "neg_elbo": (recon + kl).item(), "recon": recon.item(), "kl": kl.item(), **extra}

    @torch.no_grad()
    def log_weights(self, batch: Batch, k: int) -> torch.Tensor:
        self.encoder.eval()
        self.decoder.eval()
        x = batch.images.to(self.device)
        labels = self._labels(batch)
        mean, logvar = self.encoder(x, labels)
        n = x.shape[0]
        z = mean + torch.randn(k, *mean.shape, device=self.device) * torch.exp(0.5 * logvar)  # (k, N, D)
        flat = z.reshape(k * n, -1)
        repeated = None if labels is None else labels.repeat(k)
        out = self.decoder(flat, repeated)
        log_px = self.log_likelihood(out, x.repeat(k, 1, 1, 1)).view(k, n)
        log_pz = densities.standard_normal_log_prob(z)
        log_qz = densities.normal_log_prob(z, mean, logvar)
        return log_px + log_pz - log_qz

    # -- latent space ---------------------------------------------------------------------

    def _check_labels(self, labels: torch.Tensor | int | None, n: int) -> torch.Tensor | None:
        """Labels (one per image, or one for all) checked against the model, on its device."""
        if not self.num_classes:
            if labels is not None:
                raise UsageError("this VAE is unconditional: it takes no --label (cvae does)")
            return None
        if labels is None:
            raise UsageError(f"cvae needs a class label: pass --label 0..{self.num_classes - 1}")
        labels = torch.as_tensor(labels, dtype=torch.long).expand(n)
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if len(bad):
            raise UsageError(f"--label must be in [0, {self.num_classes}), got {bad[0].item()}")
        return labels.to(self.device)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self.encoder.eval()
        labels = self._check_labels(labels, images.shape[0])
        mean, logvar = self.encoder(images.to(self.device), labels)
        return mean.cpu(), logvar.cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.decoder.eval()
        labels = self._check_labels(labels, latents.shape[0])
        return DecoderImage(self.decoder, self.pixel_model)(latents.to(self.device), labels).cpu()

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        generator = self.noise_generator(seed)
        z = torch.randn(n, self.latent_dim, generator=generator)
        labels: torch.Tensor | int | None = label
        if self.num_classes and label is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator)
        return self.decode(z, labels)

    # -- export ---------------------------------------------------------------------------

    def export_graphs(self) -> dict[str, ExportGraph]:
        label = (TensorSpec("label", (), dtype="int64", distribution=f"categorical:{self.num_classes}"),) if self.num_classes else ()
        self.encoder.eval()
        self.decoder.eval()
        return {
            "generator": ExportGraph(
                module=DecoderImage(self.decoder, self.pixel_model),
                inputs=(TensorSpec("latent", (self.latent_dim,)), *label),
                outputs=("image",),
                description="decoder: latent z ~ N(0, I)" + (" and class label" if label else "") + " -> mean image in [0, 1]",
            ),
            "encoder": ExportGraph(
                module=self.encoder,
                inputs=(TensorSpec("image", self.data.shape, distribution="uniform"), *label),
                outputs=("mean", "logvar"),
                value_range=None,
                description="encoder: image in [0, 1]" + (" and class label" if label else "") + " -> posterior mean and log-variance",
            ),
        }
