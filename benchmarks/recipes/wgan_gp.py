"""WGAN-GP in Gulrajani et al.'s MNIST setting.

Source: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, Improved Training of
Wasserstein GANs (arXiv:1704.00028), and the authors' code, igul222/improved_wgan_training
``gan_mnist.py`` with MODE = 'wgan-gp': DIM = 64, z of 128 from N(0, I); the generator is a
linear layer to 4 x 4 x 4*DIM, ReLU, then 5 x 5 stride-2 transposed convolutions to 2*DIM
(cropped from 8 x 8 to 7 x 7), DIM and 1 channel, ReLU between and a sigmoid at the end,
with no BatchNorm in this mode; the critic is 5 x 5 stride-2 convolutions to DIM, 2*DIM and
4*DIM channels with LeakyReLU 0.2 and no normalisation, then a linear layer to one score.
Five critic iterations per generator iteration, gradient penalty lambda = 10 on random
points between real and fake images, Adam(1e-4, betas (0.5, 0.9)) for both. Images are
MNIST's pixels in [0, 1], at 28 x 28. The authors' code trains at batch 50; here batch 64,
as every pair; layers keep PyTorch's default initialisation (tflib's He/Glorot uniform is
close to it).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

SOURCE = "Gulrajani et al. 2017, igul222/improved_wgan_training gan_mnist.py (MODE wgan-gp, DIM 64), batch 64"
DIM, NZ, CRITIC_ITERS, LAMBDA = 64, 128, 5, 10.0


class Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.input = nn.Linear(NZ, 4 * 4 * 4 * DIM)
        self.deconv2 = nn.ConvTranspose2d(4 * DIM, 2 * DIM, 5, 2, 2, output_padding=1)  # TF's 'SAME': doubles the side
        self.deconv3 = nn.ConvTranspose2d(2 * DIM, DIM, 5, 2, 2, output_padding=1)
        self.deconv5 = nn.ConvTranspose2d(DIM, 1, 5, 2, 2, output_padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.input(z)).view(-1, 4 * DIM, 4, 4)
        x = torch.relu(self.deconv2(x))[:, :, :7, :7]
        x = torch.relu(self.deconv3(x))
        return torch.sigmoid(self.deconv5(x))


def critic() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, DIM, 5, 2, 2), nn.LeakyReLU(0.2),
        nn.Conv2d(DIM, 2 * DIM, 5, 2, 2), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * DIM, 4 * DIM, 5, 2, 2), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(4 * 4 * 4 * DIM, 1), nn.Flatten(0),
    )  # fmt: skip


def train(images: torch.Tensor, steps: int, seed: int, device: torch.device, batch_size: int = 64) -> Callable[[int, int], torch.Tensor]:
    torch.manual_seed(seed)
    data = (images.float() / 255).to(device)
    netG, netD = Generator().to(device), critic().to(device)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=1e-4, betas=(0.5, 0.9))
    optimizerD = torch.optim.Adam(netD.parameters(), lr=1e-4, betas=(0.5, 0.9))

    def batches():
        while True:  # inf_train_gen: epoch after epoch of shuffled whole batches
            order = torch.randperm(len(data), device=device)
            for i in range(0, len(order) - batch_size + 1, batch_size):
                yield data[order[i : i + batch_size]]

    real_batches = batches()
    for _ in range(steps):
        for _ in range(CRITIC_ITERS):
            real = next(real_batches)
            with torch.no_grad():
                fake = netG(torch.randn(batch_size, NZ, device=device))
            alpha = torch.rand(batch_size, 1, 1, 1, device=device)
            interpolates = (real + alpha * (fake - real)).requires_grad_(True)
            (gradients,) = torch.autograd.grad(netD(interpolates).sum(), interpolates, create_graph=True)
            slopes = gradients.flatten(1).norm(dim=1)
            disc_cost = netD(fake).mean() - netD(real).mean() + LAMBDA * ((slopes - 1) ** 2).mean()
            optimizerD.zero_grad()
            disc_cost.backward()
            optimizerD.step()
        gen_cost = -netD(netG(torch.randn(batch_size, NZ, device=device))).mean()
        optimizerG.zero_grad()
        gen_cost.backward()
        optimizerG.step()

    @torch.no_grad()
    def draw(count: int, seed: int) -> torch.Tensor:
        z = torch.randn(count, NZ, generator=torch.Generator().manual_seed(seed)).to(device)
        return netG(z).cpu()

    return draw
