"""Training precision: what is refused where, and that bf16 autocast really computes in bf16."""

from __future__ import annotations

import pytest
import torch

from support import assert_one_line_error
from zoo import precision
from zoo.errors import UsageError

NATIVE_BF16 = precision.native_bf16(torch.device("cpu"))


def test_autocast_runs_matrix_products_in_bf16_and_fp32_in_fp32():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with precision.autocast("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with precision.autocast("fp32", "cpu"):
        assert (a @ b).dtype == torch.float32


def test_fp16_and_unknown_precisions_are_refused():
    with pytest.raises(UsageError, match="gradient scaler"):
        precision.check("fp16", "cpu")
    with pytest.raises(UsageError, match="must be one of fp32, bf16, fp16"):
        precision.check("fp8", "cpu")
    precision.check("fp32", "cpu")


@pytest.mark.skipif(NATIVE_BF16, reason="this CPU has native bf16: nothing to refuse")
def test_bf16_is_a_one_line_error_on_a_cpu_without_native_bf16(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--precision", "bf16", "--steps", "1")
    assert_one_line_error(result, 2, "this CPU has no native bf16", "use --precision fp32")
    assert not runs_dir.exists(), "nothing written"


@pytest.mark.skipif(not NATIVE_BF16, reason="needs a CPU with native bf16")
def test_bf16_trains_where_the_cpu_has_it(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--precision", "bf16", "--steps", "3", "--no-progress")
    assert result.exit_code == 0, result.output
