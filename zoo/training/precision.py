"""Training precision: ``fp32``; ``bf16`` or ``fp16`` autocast where the hardware computes in them.

Both run each plugin's ``train_step`` under ``torch.autocast``: matrix products and
convolutions in the half type, reductions and losses in float32, weights and optimizer state in
float32. Each is refused where the hardware lacks native support for it (it would be emulated
and slower than fp32): bf16 on a CPU without AVX512-BF16 or AMX, fp16 on a CPU without
AMX-FP16.

bf16 has float32's exponent range and needs nothing more. fp16's gradients underflow, so it
trains with dynamic loss scaling (:class:`LossScaler`, around ``torch.amp.GradScaler``): the
loss is multiplied by a large scale before ``backward``, the gradients divided by it before the
optimizer step, and a step whose gradients overflowed is skipped and the scale halved. For that
the scaler must see every backward pass and optimizer step, so a plugin trains in fp16 only when
its model routes them through :meth:`zoo.contract.Model.backward`, ``unscale_gradients`` and
``optimizer_step``, and its plugin says so by listing ``"fp16"`` in
:attr:`zoo.contract.Plugin.precisions`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, ContextManager

import torch

from zoo.contract import PRECISIONS
from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    from zoo.contract import Model


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def native_fp16(device: torch.device) -> bool:
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        return torch.cpu._is_amx_fp16_supported()
    return False


def check(precision: str, device: torch.device | str, plugin: Any = None) -> None:
    """Raise a one-line :class:`UsageError` if ``precision`` cannot (or should not) train on ``device``
    (or, given its :class:`~zoo.contract.Plugin` class, train that plugin)."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if plugin is not None and precision not in plugin.precisions:
        raise UsageError(
            f"--precision {precision}: {plugin.name} does not support it (it supports {', '.join(plugin.precisions)}); "
            "fp16 needs a model whose every backward and optimizer step goes through Model.backward and Model.optimizer_step"
        )
    if precision == "bf16" and not native_bf16(device):
        where = "this CPU has no native bf16 (AVX512-BF16 or AMX)" if device.type == "cpu" else f"{device} has no native bf16"
        raise UsageError(f"--precision bf16: {where}, so bf16 would be emulated and slower than fp32; use --precision fp32")
    if precision == "fp16" and not native_fp16(device):
        where = "this CPU has no native fp16 (AMX-FP16)" if device.type == "cpu" else f"{device} has no native fp16"
        raise UsageError(f"--precision fp16: {where}, so fp16 would be emulated and slower than fp32; use a CUDA device, or --precision fp32")


def autocast(precision: str, device: torch.device | str) -> ContextManager:
    """The context ``train_step`` runs in: nothing for fp32, ``torch.autocast`` otherwise."""
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def attach(model: "Model", precision: str) -> "LossScaler | None":
    """Give ``model`` the loss scaler ``precision`` needs (fp16), once; return it."""
    if precision == "fp16" and model.loss_scaler is None:
        model.loss_scaler = LossScaler(model.device, owner=type(model).__name__)
    return model.loss_scaler


class LossScaler:
    """Dynamic loss scaling for one model's fp16 training: a ``torch.amp.GradScaler`` that the
    model drives through ``Model.backward`` / ``unscale_gradients`` / ``optimizer_step``.

    The scale is updated once every update that used it is done: before the next backward
    pass after a step (a GAN's generator pass after its discriminator step), and at the end
    of each ``train_step`` (:meth:`end_of_step`). So a model may take all its backward passes
    first and then all its steps (VAE-GAN), or alternate them.
    """

    def __init__(self, device: torch.device | str, init_scale: float = 2.0**16, owner: str = "the model") -> None:
        self.owner = owner
        self.scaler = torch.amp.GradScaler(torch.device(device).type, init_scale=init_scale)
        self.before_unscale: Callable[[torch.optim.Optimizer], None] | None = None
        """Called with each optimizer before its gradients are unscaled: on several processes,
        the averaging of its (scaled) gradients, so every rank finds the same overflow."""
        self._unscaled: set[int] = set()
        self._stepped = False  # since the last update of the scale
        self.backwards = self.steps = self.skipped = 0
        """Counts within the current ``train_step``."""

    @property
    def scale(self) -> float:
        return float(self.scaler.get_scale())

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        if self._stepped:
            self._update()
        self.scaler.scale(loss).backward(**kwargs)
        self.backwards += 1

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        if id(optimizer) in self._unscaled:
            return
        if self.before_unscale is not None:
            self.before_unscale(optimizer)
        self.scaler.unscale_(optimizer)
        self._unscaled.add(id(optimizer))

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        if self.backwards == 0:
            raise self._bypassed("backward pass")
        self.unscale(optimizer)
        # GradScaler.step skips the step on an overflow but does not say so; its record does
        overflowed = any(bool(found) for found in self.scaler._found_inf_per_device(optimizer).values())
        self.scaler.step(optimizer)
        self._unscaled.discard(id(optimizer))
        self._stepped = True
        self.steps += 1
        self.skipped += overflowed
        return not overflowed

    def end_of_step(self) -> int:
        """After a ``train_step``: check it went through the scaler, update the scale, and
        return how many of its optimizer steps were skipped."""
        if self.backwards == 0 or self.steps == 0:
            raise self._bypassed("backward pass" if self.backwards == 0 else "optimizer step")
        if self._stepped:
            self._update()
        skipped = self.skipped
        self.backwards = self.steps = self.skipped = 0
        return skipped

    def _bypassed(self, missing: str) -> ZooError:
        return ZooError(
            f"{self.owner} trained a step in fp16 without any {missing} through the loss scaler: call "
            "self.backward(loss) and self.optimizer_step(optimizer) instead of loss.backward() and optimizer.step(), "
            "or drop 'fp16' from the plugin's precisions"
        )

    def _update(self) -> None:
        self.scaler.update()
        self._stepped = False
        self._unscaled.clear()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scaler.load_state_dict(state)


def train_step(model: "Model", batch: Any, step: int, precision: str) -> tuple[dict[str, float], int]:
    """``model.train_step`` under ``precision``'s autocast, and its loss scaler's end of step:
    the losses, and how many optimizer steps an fp16 overflow skipped (0 otherwise)."""
    with autocast(precision, model.device):
        losses = model.train_step(batch, step)
    skipped = 0 if model.loss_scaler is None else model.loss_scaler.end_of_step()
    return losses, skipped
