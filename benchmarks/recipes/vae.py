"""The VAE of the PyTorch examples repository, behind zoo's likelihood interface.

Source: pytorch/examples, ``vae/main.py`` (after Kingma & Welling 2014, arXiv:1312.6114): an
MLP, fc1 D->400 ReLU, fc21/fc22 400->20 (the posterior's mean and log-variance), fc3 20->400
ReLU, fc4 400->D sigmoid (D = C*H*W, 784 on MNIST), trained on binary cross-entropy summed
over pixels plus the analytic KL, Adam lr 1e-3. Here the pixels are redrawn from
Bernoulli(intensity) every step (dynamic binarisation, as zoo's VAE trains), so both fit the
same binary data, and the model is a :class:`~zoo.contract.LikelihoodModel` only so that zoo's
evaluator (``zoo.likelihood``) scores it as it scores zoo's models; nothing of zoo's VAE is used.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.contract import Batch, DataSpec, ExportGraph, LikelihoodModel

SOURCE = "pytorch/examples vae/main.py (Kingma & Welling 2014), MLP 784-400-20, Adam 1e-3, dynamically binarised"
LOG_2PI = math.log(2 * math.pi)


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    hidden: int = 400
    latent_dim: int = 20
    lr: float = 1e-3


class ReferenceMLP(nn.Module):
    def __init__(self, dims: int, config: ReferenceConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dims, config.hidden)
        self.fc21 = nn.Linear(config.hidden, config.latent_dim)
        self.fc22 = nn.Linear(config.hidden, config.latent_dim)
        self.fc3 = nn.Linear(config.latent_dim, config.hidden)
        self.fc4 = nn.Linear(config.hidden, dims)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = F.relu(self.fc1(x))
        return self.fc21(hidden), self.fc22(hidden)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        # The example applies a sigmoid and then BCE; scoring the logits is the same model
        # without log(0) when a pixel saturates, which would cap BCE's log at -100.
        return self.fc4(F.relu(self.fc3(z)))


class ReferenceVAE(LikelihoodModel):
    """The pytorch/examples VAE behind zoo's likelihood interface, so zoo's evaluator scores it."""

    pixel_model = "bernoulli"

    def __init__(self, config: ReferenceConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        super().__init__(config, data, device)
        self.dims = data.channels * data.height * data.width
        self.net = ReferenceMLP(self.dims, config).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        self.net.train()
        x = torch.bernoulli(batch.images.flatten(1))
        mean, logvar = self.net.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(self.net.decode_logits(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
        loss = recon + kl  # summed over the batch, as in the example
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"neg_elbo": loss.item() / x.shape[0]}

    @torch.no_grad()
    def log_weights(self, batch: Batch, k: int) -> torch.Tensor:
        self.net.eval()
        x = batch.images.to(self.device).flatten(1)
        mean, logvar = self.net.encode(x)
        z = mean + torch.randn(k, *mean.shape, device=self.device) * torch.exp(0.5 * logvar)  # (k, N, latent)
        logits = self.net.decode_logits(z)  # (k, N, D)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * ((z - mean).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)
        return log_px + log_pz - log_qz

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        self.net.eval()
        z = torch.randn(n, self.config.latent_dim, generator=self.noise_generator(seed))
        return torch.sigmoid(self.net.decode_logits(z.to(self.device))).view(n, *self.data.shape).cpu()

    def export_graphs(self) -> dict[str, ExportGraph]:
        return {}  # only scored here, never exported


def train(images: torch.Tensor, steps: int, seed: int, device: torch.device, batch_size: int = 128) -> ReferenceVAE:
    """``steps`` Adam steps on shuffled whole batches of ``images`` (uint8), epoch after epoch."""
    torch.manual_seed(seed)
    _, c, h, w = images.shape
    model = ReferenceVAE(ReferenceConfig(), DataSpec(channels=c, height=h, width=w), device)
    data = images.float() / 255
    batches_per_epoch, step = len(data) // batch_size, 0  # the last partial batch is dropped, as zoo's trainer does
    while step < steps:
        order = torch.randperm(len(data))
        for position in range(batches_per_epoch):
            step += 1
            model.train_step(Batch(images=data[order[position * batch_size : (position + 1) * batch_size]].to(device)), step)
            if step == steps:
                break
    return model
