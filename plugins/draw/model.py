"""DRAW (Gregor et al. 2015): a recurrent VAE that draws an image on a canvas, step by step.

At each of T steps (section 2.1, eqs. 1-8; equation numbers below are the paper's)::

    x_hat_t  = x - sigmoid(c_{t-1})                       the error image             (3)
    r_t      = read(x, x_hat_t, h^dec_{t-1})              what the encoder looks at    (4)
    h^enc_t  = LSTM^enc(h^enc_{t-1}, [r_t, h^dec_{t-1}])                               (5)
    z_t      ~ Q(z_t | h^enc_t) = N(mu_t, sigma_t^2)      a diagonal Gaussian      (1, 2, 6)
    h^dec_t  = LSTM^dec(h^dec_{t-1}, z_t)                                              (7)
    c_t      = c_{t-1} + write(h^dec_t)                   the canvas, added to         (8)

and the pixels are Bernoulli with means sigmoid(c_T). Training minimises the negative ELBO
(section 2.2): the pixels' cross-entropy under sigmoid(c_T) plus the KL of every step's
posterior to the N(0, I) prior. Generating (section 2.3) runs the decoder alone on z_t ~ N(0, I).

With attention (section 3.2), read and write go through an N x N grid of Gaussian filters
whose centre, stride, width and intensity the decoder state picks at every step (eqs. 19-29);
without it, read passes the whole image and error image and write emits a whole-canvas update
(eqs. 17-18). The windows start out tiling the image (see :class:`Attention`). The sequence
of canvases is what ``sample_steps`` returns: the drawing.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo import densities
from zoo.contract import Batch, DataSpec, ExportGraph, LikelihoodModel, SteppedModel, TensorSpec
from zoo.errors import UsageError
from zoo.plugins.draw.config import DRAWConfig

# -- attention ------------------------------------------------------------------------------


def filterbank(
    g_x: torch.Tensor, g_y: torch.Tensor, var: torch.Tensor, delta: torch.Tensor, n: int, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """An N x N grid of Gaussian filters as two matrices, F_Y ``(B, N, H)`` and F_X ``(B, N, W)``.

    ``g_x``, ``g_y`` (the grid's centre), ``var`` (sigma^2) and ``delta`` (the stride between
    filters) are ``(B,)``, in pixels; ``size`` is the image's ``(H, W)``. Pixel coordinates run from 1, as in the paper, so
    ``g = (size + 1) / 2`` is the middle of the image. Each row sums to one.
    """
    offsets = torch.arange(1, n + 1, dtype=g_x.dtype, device=g_x.device) - n / 2 - 0.5
    mu_x = g_x[:, None] + offsets * delta[:, None]  # eq. 19, (B, N)
    mu_y = g_y[:, None] + offsets * delta[:, None]  # eq. 20

    def bank(mu: torch.Tensor, size: int) -> torch.Tensor:
        pixels = torch.arange(1, size + 1, dtype=mu.dtype, device=mu.device)
        # Eqs. 25-26, exp(-(a - mu_i)^2 / 2 sigma^2) / Z_i: a softmax over the pixels is exactly
        # that normalisation, and stays finite when a filter sits far outside the image (0/0).
        return torch.softmax(-(pixels - mu[..., None]).pow(2) / (2 * var[:, None, None]), dim=-1)

    return bank(mu_y, size[0]), bank(mu_x, size[1])


class Attention(nn.Module):
    """Decoder state -> an N x N filterbank and its intensity gamma (eqs. 21-24)."""

    def __init__(self, hidden: int, n: int, height: int, width: int, writes: bool = False) -> None:
        super().__init__()
        self.n, self.height, self.width = n, height, width
        self.linear = nn.Linear(hidden, 5)
        # The paper does not say how it initialised these. At the neutral point of eqs. 22-24
        # (delta~ = sigma^2 = 1) a 2 x 2 read samples the four corner pixels, blank in digits,
        # so the encoder would start blind. Instead the grid starts out tiling the image, each
        # filter half a tile wide, so the first glimpses see all of it.
        side = max(height, width)
        tile = side / n
        var = (tile / 2) ** 2
        delta_tilde = tile * max(n - 1, 1) / max(side - 1, 1)
        # A write divides by gamma (eq. 29) while its normalised filters spread each patch value
        # over about 2 pi sigma^2 pixels; starting gamma at 1 / that area keeps a patch value of
        # 1 at about 1 where it lands, rather than diluted some 50-fold on MNIST.
        log_gamma = -math.log(2 * math.pi * var) if writes else 0.0
        with torch.no_grad():
            self.linear.bias.copy_(torch.tensor([0.0, 0.0, math.log(var), math.log(delta_tilde), log_gamma]))

    def forward(self, h_dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gx, gy, log_var, log_delta, log_gamma = self.linear(h_dec).unbind(-1)  # eq. 21
        # Eqs. 22-24: the centre in [-1, 1] maps onto the image, and delta~ = 1 lets the grid
        # span the whole image. (With N = 1 the stride is unused; avoid dividing by zero.)
        g_x = (self.width + 1) / 2 * (gx + 1)
        g_y = (self.height + 1) / 2 * (gy + 1)
        delta = (max(self.height, self.width) - 1) / max(self.n - 1, 1) * log_delta.exp()
        f_y, f_x = filterbank(g_x, g_y, log_var.exp(), delta, self.n, (self.height, self.width))
        return f_y, f_x, log_gamma.exp()


def glimpse(images: torch.Tensor, f_y: torch.Tensor, f_x: torch.Tensor) -> torch.Tensor:
    """F_Y x F_X^T for each channel: ``(B, C, H, W)`` -> ``(B, C, N, N)`` (eq. 27)."""
    return f_y[:, None] @ images @ f_x[:, None].transpose(-1, -2)


def paint(patch: torch.Tensor, f_y: torch.Tensor, f_x: torch.Tensor) -> torch.Tensor:
    """F_Y^T w F_X for each channel: ``(B, C, N, N)`` -> ``(B, C, H, W)`` (eq. 29)."""
    return f_y[:, None].transpose(-1, -2) @ patch @ f_x[:, None]


class Reader(nn.Module):
    """read(x, x_hat, h^dec_{t-1}): a glimpse of the image and the error image, as one vector."""

    def __init__(self, config: DRAWConfig, data: DataSpec) -> None:
        super().__init__()
        c, h, w = data.shape
        self.attention = Attention(config.decoder_hidden, config.read_n, h, w) if config.attention else None
        self.size = 2 * c * (config.read_n**2 if config.attention else h * w)

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor, h_dec: torch.Tensor) -> torch.Tensor:
        both = torch.cat([x, x_hat], dim=1)
        if self.attention is None:
            return both.flatten(1)  # eq. 17
        f_y, f_x, gamma = self.attention(h_dec)
        return gamma[:, None] * glimpse(both, f_y, f_x).flatten(1)  # eq. 27


class Writer(nn.Module):
    """write(h^dec_t): what the step adds to the canvas, ``(B, C, H, W)``."""

    def __init__(self, config: DRAWConfig, data: DataSpec) -> None:
        super().__init__()
        c, h, w = data.shape
        self.attention = Attention(config.decoder_hidden, config.write_n, h, w, writes=True) if config.attention else None
        self.patch_shape = (c, config.write_n, config.write_n) if config.attention else (c, h, w)
        self.patch = nn.Linear(config.decoder_hidden, math.prod(self.patch_shape))

    def forward(self, h_dec: torch.Tensor) -> torch.Tensor:
        patch = self.patch(h_dec).view(-1, *self.patch_shape)  # eq. 28 (eq. 18 without attention)
        if self.attention is None:
            return patch
        f_y, f_x, gamma = self.attention(h_dec)
        return paint(patch, f_y, f_x) / gamma[:, None, None, None]  # eq. 29


# -- the network ----------------------------------------------------------------------------


class DRAWNetwork(nn.Module):
    """Encoder and decoder LSTMs, posterior, read and write: the whole of DRAW in one module."""

    def __init__(self, config: DRAWConfig, data: DataSpec) -> None:
        super().__init__()
        self.shape, self.steps, self.latent_dim = data.shape, config.steps, config.latent_dim
        self.reader = Reader(config, data)
        self.encoder = nn.LSTMCell(self.reader.size + config.decoder_hidden, config.encoder_hidden)
        self.posterior = nn.Linear(config.encoder_hidden, 2 * config.latent_dim)
        self.decoder = nn.LSTMCell(config.latent_dim, config.decoder_hidden)
        self.writer = Writer(config, data)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode ``x`` and draw it again: the final canvas (logits, ``(B, C, H, W)``) and each
        step's latent, posterior mean and log-variance, ``(T, B, latent_dim)``."""
        batch = x.shape[0]
        canvas = x.new_zeros(batch, *self.shape)
        enc_state = (x.new_zeros(batch, self.encoder.hidden_size),) * 2
        dec_state = (x.new_zeros(batch, self.decoder.hidden_size),) * 2
        latents, means, logvars = [], [], []
        for _ in range(self.steps):
            x_hat = x - torch.sigmoid(canvas)  # eq. 3
            read = self.reader(x, x_hat, dec_state[0])  # eq. 4
            enc_state = self.encoder(torch.cat([read, dec_state[0]], dim=1), enc_state)  # eq. 5
            # Eqs. 1-2 give mu and log sigma; the log-variance is the same thing, times two.
            mean, logvar = self.posterior(enc_state[0]).chunk(2, dim=1)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # eq. 6, reparameterised
            dec_state = self.decoder(z, dec_state)  # eq. 7
            canvas = canvas + self.writer(dec_state[0])  # eq. 8
            latents.append(z)
            means.append(mean)
            logvars.append(logvar)
        return canvas, torch.stack(latents), torch.stack(means), torch.stack(logvars)

    def generate(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw from given latents ``(B, T, latent_dim)`` (section 2.3): the final image and the
        image after every step, ``(B, T, C, H, W)``, both means of the Bernoulli pixels."""
        batch = latents.shape[0]
        canvas = latents.new_zeros(batch, *self.shape)
        dec_state = (latents.new_zeros(batch, self.decoder.hidden_size),) * 2
        frames = []
        for t in range(self.steps):  # a Python loop: the exported graph unrolls it
            dec_state = self.decoder(latents[:, t], dec_state)
            canvas = canvas + self.writer(dec_state[0])
            frames.append(torch.sigmoid(canvas))
        return frames[-1], torch.stack(frames, dim=1)


class Generator(nn.Module):
    """Latents for every step -> the final image and all canvases: the graph exporters see."""

    def __init__(self, network: DRAWNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network.generate(latents)


# -- the zoo model --------------------------------------------------------------------------


class DRAWModel(SteppedModel, LikelihoodModel):
    pixel_model = "bernoulli"

    def __init__(self, config: DRAWConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        super().__init__(config, data, device)
        self.network = DRAWNetwork(config, data).to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"draw": self.network}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"draw": self.optimizer}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        self.network.train()
        x = batch.images
        if self.config.binarize == "dynamic":
            x = torch.bernoulli(x)
        logits, _, mean, logvar = self.network(x)
        recon = -densities.bernoulli_log_prob(logits, x).mean()  # L^x, nats per image
        kl = densities.kl_to_standard_normal(mean, logvar).sum(dim=(0, 2)).mean()  # L^z: over steps and dims
        loss = recon + kl
        self.optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.unscale_gradients(self.optimizer)
        # The norm before clipping (clipping to infinity only measures it), to see how often the clip bites.
        grad_norm = nn.utils.clip_grad_norm_(self.network.parameters(), self.config.grad_clip or math.inf)
        losses = {"loss": loss.item(), "neg_elbo": loss.item(), "recon": recon.item(), "kl": kl.item()}
        if self.optimizer_step(self.optimizer):  # an fp16 step skipped for overflowing gradients has no norm
            losses["grad_norm"] = grad_norm.item()
        return losses

    @torch.no_grad()
    def log_weights(self, batch: Batch, k: int) -> torch.Tensor:
        self.network.eval()
        x = batch.images.to(self.device)
        n = x.shape[0]
        repeated = x.repeat(k, 1, 1, 1)  # row i * n + j: the i-th draw for image j
        logits, z, mean, logvar = self.network(repeated)
        log_px = densities.bernoulli_log_prob(logits, repeated).view(k, n)
        # q(z_1..T | x) is the product of the steps' Gaussians, each conditioned on the earlier
        # draws through h^dec, so log p(z) - log q(z | x) is a sum over steps.
        log_pz = densities.standard_normal_log_prob(z).sum(0).view(k, n)
        log_qz = densities.normal_log_prob(z, mean, logvar).sum(0).view(k, n)
        return log_px + log_pz - log_qz

    @torch.no_grad()
    def sample_steps(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        if label is not None:
            raise UsageError("draw is unconditional: it takes no --label")
        latents = torch.randn(n, self.config.steps, self.config.latent_dim, generator=self.noise_generator(seed))
        self.network.eval()
        _, canvases = self.network.generate(latents.to(self.device))
        return canvases.transpose(0, 1).contiguous().cpu()

    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        return self.sample_steps(n, seed, label)[-1]

    def export_graphs(self) -> dict[str, ExportGraph]:
        self.network.eval()
        return {
            "generator": ExportGraph(
                module=Generator(self.network),
                inputs=(TensorSpec("latents", (self.config.steps, self.config.latent_dim)),),
                outputs=("image", "canvases"),
                description=(
                    f"decoder: latents z_t ~ N(0, I) for all {self.config.steps} steps -> the final image in [0, 1] "
                    "and the image after every step (batch, steps, C, H, W)"
                ),
            )
        }
