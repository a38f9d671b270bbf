"""SN-GAN's standard CNN with the hinge loss, on MNIST padded to 32 x 32.

Source: Miyato, Kataoka, Koyama & Yoshida 2018, Spectral Normalization for Generative
Adversarial Networks (arXiv:1802.05957). Table 3's standard CNN for 32 x 32 images (M = 4):
the generator maps z of 128 from N(0, I) through a dense layer to 4 x 4 x 512, then 4 x 4
stride-2 deconvolutions to 256, 128 and 64 channels, each with BatchNorm and ReLU, and a
3 x 3 convolution to the image with tanh; the discriminator is 3 x 3 stride-1 and 4 x 4
stride-2 convolutions, 64, 64, 128, 128, 256, 256, then a 3 x 3 one to 512, each followed
by LeakyReLU 0.1, and a dense layer to one logit, every weight spectrally normalised (one
power iteration per forward pass). The hinge loss of section 4 (equation 17), and Table 1's
setting C: Adam with lr 2e-4, betas (0.5, 0.999), one discriminator update per generator
update. Weights start from PyTorch's defaults; MNIST is padded with two black pixels a side
(not resized) and scaled to [-1, 1], and samples are cropped back to 28 x 28 for scoring.
The paper draws its samples with G in inference mode; so does this (BatchNorm running statistics).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SOURCE = "Miyato et al. 2018, Table 3 standard CNN (M = 4), hinge loss, Table 1 setting C, MNIST padded 2 px a side"
NZ, PAD = 128, 2


class Generator(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(NZ, 4 * 4 * 512)
        layers: list[nn.Module] = [nn.BatchNorm2d(512), nn.ReLU()]
        for wide, narrow in ((512, 256), (256, 128), (128, 64)):
            layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1), nn.BatchNorm2d(narrow), nn.ReLU()]
        layers += [nn.Conv2d(64, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.dense(z).view(-1, 512, 4, 4))


def discriminator(channels: int) -> nn.Module:
    layers: list[nn.Module] = []
    previous = channels
    for out, kernel, stride in ((64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1)):
        layers += [spectral_norm(nn.Conv2d(previous, out, kernel, stride, 1)), nn.LeakyReLU(0.1)]
        previous = out
    return nn.Sequential(*layers, nn.Flatten(), spectral_norm(nn.Linear(4 * 4 * 512, 1)), nn.Flatten(0))


def train(images: torch.Tensor, steps: int, seed: int, device: torch.device, batch_size: int = 64) -> Callable[[int, int], torch.Tensor]:
    torch.manual_seed(seed)
    data = F.pad(images.float() / 255 * 2 - 1, [PAD] * 4, value=-1.0).to(device)
    channels = data.shape[1]
    netG, netD = Generator(channels).to(device), discriminator(channels).to(device)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = 0
    while step < steps:
        order = torch.randperm(len(data), device=device)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            real = data[order[i : i + batch_size]]
            fake = netG(torch.randn(batch_size, NZ, device=device))
            loss_d = F.relu(1 - netD(real)).mean() + F.relu(1 + netD(fake.detach())).mean()
            optimizerD.zero_grad()
            loss_d.backward()
            optimizerD.step()
            loss_g = -netD(fake).mean()
            optimizerG.zero_grad()
            loss_g.backward()
            optimizerG.step()
            step += 1
            if step == steps:
                break
    netG.eval()

    @torch.no_grad()
    def draw(count: int, seed: int) -> torch.Tensor:
        z = torch.randn(count, NZ, generator=torch.Generator().manual_seed(seed)).to(device)
        return ((netG(z)[:, :, PAD:-PAD, PAD:-PAD] + 1) / 2).clamp(0, 1).cpu()

    return draw
