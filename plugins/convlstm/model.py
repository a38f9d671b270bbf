"""ConvLSTM (Shi et al. 2015): an encoder-forecaster that continues a sequence of frames.

A ConvLSTM cell is an LSTM whose inputs, states and gates are images and whose matrix
products are convolutions (eqs. 3 of the paper, with its Hadamard "peephole" terms)::

    i_t = sigmoid(W_xi * x_t + W_hi * h_{t-1} + W_ci o c_{t-1} + b_i)
    f_t = sigmoid(W_xf * x_t + W_hf * h_{t-1} + W_cf o c_{t-1} + b_f)
    c_t = f_t o c_{t-1} + i_t o tanh(W_xc * x_t + W_hc * h_{t-1} + b_c)
    o_t = sigmoid(W_xo * x_t + W_ho * h_{t-1} + W_co o c_t + b_o)
    h_t = o_t o tanh(c_t)

Frames are first cut into p x p patches stacked as channels (section 4.1: 64x64 frames become
16x16 grids of 16 values), so a kernel covers more of the frame for the same cost.

The encoder, a stack of cells, reads the context frames. The forecaster, a second stack
whose cells start from the encoder's final states, runs on without input for the horizon;
at each step a 1x1 convolution over all its layers' hidden states gives the next frame's
pixel logits (section 3.3, Fig. 3). The pixels are Bernoulli: training minimises the
cross-entropy of the target frames, as the paper does on Moving MNIST.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.contract import Batch, DataSpec, ExportGraph, SequenceModel, TensorSpec
from zoo.errors import UsageError
from zoo.plugins.convlstm.config import ConvLSTMConfig

State = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer on a fixed ``height`` x ``width`` grid; ``in_channels`` may be 0."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int, height: int, width: int) -> None:
        super().__init__()
        self.in_channels, self.hidden = in_channels, hidden
        # one convolution for all four gates over [x, h]: the W_x* and W_h* of the equations
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)
        # the peepholes W_ci, W_cf, W_co are per-position weights, hence the fixed grid
        self.peephole = nn.Parameter(torch.zeros(3, hidden, height, width))
        with torch.no_grad():
            self.gates.bias[hidden : 2 * hidden].fill_(1.0)  # forget gate open at the start

    def initial_state(self, x: torch.Tensor) -> State:
        zeros = x.new_zeros(x.shape[0], self.hidden, *self.peephole.shape[-2:])
        return zeros, zeros

    def forward(self, x: torch.Tensor | None, state: State) -> State:
        h, c = state
        stacked = h if x is None else torch.cat([x, h], dim=1)
        i, f, g, o = self.gates(stacked).chunk(4, dim=1)
        w_ci, w_cf, w_co = self.peephole
        i = torch.sigmoid(i + w_ci * c)
        f = torch.sigmoid(f + w_cf * c)
        c = f * c + i * torch.tanh(g)
        o = torch.sigmoid(o + w_co * c)
        return o * torch.tanh(c), c


class EncoderForecaster(nn.Module):
    """Context frames ``(N, T_in, C, H, W)`` in [0, 1] -> logits of the next ``horizon`` frames."""

    def __init__(self, config: ConvLSTMConfig, data: DataSpec) -> None:
        super().__init__()
        p = config.patch_size
        self.patch_size = p
        grid_h, grid_w = data.height // p, data.width // p
        patch_channels = data.channels * p * p
        hidden, k = config.hidden_channels, config.kernel_size
        self.encoder = nn.ModuleList(
            ConvLSTMCell(patch_channels if layer == 0 else hidden, hidden, k, grid_h, grid_w) for layer in range(config.layers)
        )
        # the forecaster's first layer has no input: it runs on the state it was handed
        self.forecaster = nn.ModuleList(
            ConvLSTMCell(0 if layer == 0 else hidden, hidden, k, grid_h, grid_w) for layer in range(config.layers)
        )
        self.output = nn.Conv2d(hidden * config.layers, patch_channels, kernel_size=1)

    def forward(self, context: torch.Tensor, horizon: int) -> torch.Tensor:
        patches = F.pixel_unshuffle(context.flatten(0, 1), self.patch_size)
        patches = patches.unflatten(0, context.shape[:2])  # (N, T_in, C p p, H/p, W/p)
        states = [cell.initial_state(patches[:, 0]) for cell in self.encoder]
        for t in range(patches.shape[1]):  # Python loops: the exported graph unrolls them
            x = patches[:, t]
            for layer, cell in enumerate(self.encoder):
                states[layer] = cell(x, states[layer])
                x = states[layer][0]
        logits = []
        for _ in range(horizon):
            x = None
            for layer, cell in enumerate(self.forecaster):
                states[layer] = cell(x, states[layer])
                x = states[layer][0]
            frame = self.output(torch.cat([h for h, _ in states], dim=1))
            logits.append(F.pixel_shuffle(frame, self.patch_size))
        return torch.stack(logits, dim=1)


class Forecaster(nn.Module):
    """The exported graph: context frames -> the next ``horizon`` frames as probabilities."""

    def __init__(self, network: EncoderForecaster, horizon: int) -> None:
        super().__init__()
        self.network, self.horizon = network, horizon

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.network(context, self.horizon))


class ConvLSTMModel(SequenceModel):
    def __init__(self, config: ConvLSTMConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        super().__init__(config, data, device)
        if data.frames <= config.context_frames:
            raise UsageError(
                f"convlstm reads {config.context_frames} context frames, so it needs sequences longer than that; "
                f"the data has {data.frames} frames a sequence (use a sequence dataset such as moving-digits, or --set context_frames=...)"
            )
        p = config.patch_size
        if data.height % p or data.width % p:
            raise UsageError(
                f"frames of {data.height}x{data.width} do not split into {p}x{p} patches; "
                f"pass --image-size a multiple of {p} or --set patch_size=..."
            )
        self.context_frames = config.context_frames
        self.horizon = data.frames - config.context_frames
        self.network = EncoderForecaster(config, data).to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"convlstm": self.network}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"convlstm": self.optimizer}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        self.network.train()
        frames = batch.images
        context, target = frames[:, : self.context_frames], frames[:, self.context_frames :]
        logits = self.network(context, target.shape[1])
        # per frame: summed over its pixels, averaged over frames and sequences
        per_frame = target[0, 0].numel()
        loss = F.binary_cross_entropy_with_logits(logits, target) * per_frame
        self.optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.unscale_gradients(self.optimizer)
        grad_norm = nn.utils.clip_grad_norm_(self.network.parameters(), self.config.grad_clip or math.inf)
        stepped = self.optimizer_step(self.optimizer)
        with torch.no_grad():
            mse = F.mse_loss(torch.sigmoid(logits.float()), target) * per_frame
        losses = {"loss": loss.item(), "mse": mse.item()}
        if stepped:  # an fp16 step skipped for overflowing gradients has no norm
            losses["grad_norm"] = grad_norm.item()
        return losses

    @torch.no_grad()
    def predict(self, context: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        expected = (self.context_frames, *self.data.shape)
        if context.dim() != 5 or tuple(context.shape[1:]) != expected:
            raise UsageError(f"convlstm takes context frames shaped (N, {', '.join(map(str, expected))}), got {tuple(context.shape)}")
        horizon = self.horizon if horizon is None else horizon
        if horizon < 1:
            raise UsageError(f"the horizon must be at least 1 frame, got {horizon}")
        self.network.eval()
        return torch.sigmoid(self.network(context.to(self.device, torch.float32), horizon)).cpu()

    def export_graphs(self) -> dict[str, ExportGraph]:
        self.network.eval()
        return {
            "forecaster": ExportGraph(
                module=Forecaster(self.network, self.horizon),
                inputs=(TensorSpec("context", (self.context_frames, *self.data.shape), distribution="uniform"),),
                outputs=("frames",),
                metadata={"context_frames": self.context_frames, "horizon": self.horizon},
                description=(
                    f"forecaster: {self.context_frames} context frames in [0, 1] (batch, frames, C, H, W) -> "
                    f"the next {self.horizon} frames in [0, 1]"
                ),
            )
        }
