"""The DCGAN recipe of the PyTorch examples repository, on MNIST padded to 32 x 32.

Source: pytorch/examples, ``dcgan/main.py`` (after Radford, Metz & Chintala 2016,
arXiv:1511.06434). nz = 100, ngf = ndf = 64; the generator is transposed convolutions with
BatchNorm + ReLU and a tanh output, the discriminator strided convolutions with LeakyReLU 0.2
and BatchNorm on all but the first, ending in a sigmoid; weights from N(0, 0.02), BatchNorm
scales from N(1, 0.02); Adam(2e-4, betas (0.5, 0.999)) for both; BCE, D trained on a real
then a fake batch, G on the same fake batch through the updated D. The example is written for
64 x 64 with five layers; at 32 x 32 the first layer (ngf * 8) is dropped, leaving
256/128/64 channels, the usual reading of the recipe for 32 x 32 data.

MNIST is padded with two black pixels a side (not resized) to 32 x 32 and scaled to [-1, 1];
samples are cropped back to the 28 x 28 centre for scoring. The example never switches G to
eval(), so samples are drawn in training mode (BatchNorm on each batch's own statistics).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

SOURCE = "pytorch/examples dcgan/main.py (Radford et al. 2016), ngf = ndf = 64 at 32 x 32, MNIST padded 2 px a side"
NZ, NGF, NDF, PAD = 100, 64, 64, 2


def generator(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(NZ, NGF * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
        nn.ConvTranspose2d(NGF, channels, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip


def discriminator(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid(), nn.Flatten(0),
    )  # fmt: skip


def weights_init(m: nn.Module) -> None:
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def train(images: torch.Tensor, steps: int, seed: int, device: torch.device, batch_size: int = 64) -> Callable[[int, int], torch.Tensor]:
    torch.manual_seed(seed)
    data = F.pad(images.float() / 255 * 2 - 1, [PAD] * 4, value=-1.0).to(device)
    channels = data.shape[1]
    netG, netD = generator(channels).to(device), discriminator(channels).to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = torch.ones(batch_size, device=device), torch.zeros(batch_size, device=device)
    step = 0
    while step < steps:
        order = torch.randperm(len(data), device=device)
        for i in range(0, len(order) - batch_size + 1, batch_size):  # whole batches, as zoo's trainer
            real = data[order[i : i + batch_size]]
            # (1) D: maximise log D(x) + log(1 - D(G(z)))
            netD.zero_grad()
            errD_real = criterion(netD(real), real_label)
            errD_real.backward()
            fake = netG(torch.randn(batch_size, NZ, 1, 1, device=device))
            errD_fake = criterion(netD(fake.detach()), fake_label)
            errD_fake.backward()
            optimizerD.step()
            # (2) G: maximise log D(G(z))
            netG.zero_grad()
            errG = criterion(netD(fake), real_label)
            errG.backward()
            optimizerG.step()
            step += 1
            if step == steps:
                break

    @torch.no_grad()
    def draw(count: int, seed: int) -> torch.Tensor:
        z = torch.randn(count, NZ, 1, 1, generator=torch.Generator().manual_seed(seed)).to(device)
        return ((netG(z)[:, :, PAD:-PAD, PAD:-PAD] + 1) / 2).clamp(0, 1).cpu()

    return draw
