"""ConvLSTM: the ``convlstm`` entry point. The network lives in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.convlstm.config import ConvLSTMConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.convlstm.model import ConvLSTMModel


class ConvLSTM(Plugin):
    name = "convlstm"
    summary = "ConvLSTM encoder-forecaster: continues a sequence of frames (moving-digits); zoo sample convlstm writes a GIF"
    family = "recurrent"
    paper = "Shi, Chen, Wang, Yeung, Wong & Woo 2015, Convolutional LSTM Network: A Machine Learning Approach for Precipitation Nowcasting, arXiv:1506.04214"
    version = "1"
    Config = ConvLSTMConfig
    default_dataset = "moving-digits"
    graphs = ("forecaster",)
    data_kind = "sequences"
    default_batch_size = 16
    example_shapes = ((1, 16, 16), (1, 32, 32))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: ConvLSTMConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "ConvLSTMModel":
        from zoo.plugins.convlstm.model import ConvLSTMModel

        return ConvLSTMModel(config, data, device)
