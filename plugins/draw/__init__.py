"""DRAW: the ``draw`` entry point. The network lives in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.draw.config import DRAWConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.draw.model import DRAWModel


class DRAW(Plugin):
    name = "draw"
    summary = "DRAW: LSTM encoder/decoder drawing on a canvas over T steps with Gaussian attention; zoo sample draw --animate"
    family = "recurrent"
    paper = "Gregor, Danihelka, Graves, Rezende & Wierstra 2015, DRAW: A Recurrent Neural Network For Image Generation, arXiv:1502.04623"
    version = "1"
    Config: type = DRAWConfig
    default_dataset = "digits"
    graphs = ("generator",)
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: DRAWConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "DRAWModel":
        from zoo.plugins.draw.model import DRAWModel

        return DRAWModel(config, data, device)
