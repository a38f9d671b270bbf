"""Training precision: what is refused where, that autocast really computes in the half types,
and fp16's loss scaling through the trainer: skipped steps, logged scale, checkpoint and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open

from support import assert_one_line_error
from zoo import runs
from zoo.runs import checkpoint
from zoo.training import precision
from zoo.contract import Plugin
from zoo.errors import UsageError

NATIVE_BF16 = precision.native_bf16(torch.device("cpu"))
NATIVE_FP16 = precision.native_fp16(torch.device("cpu"))
TINY = ["--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16"]


@pytest.mark.parametrize(("name", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)])
def test_autocast_runs_matrix_products_in_the_half_type_and_fp32_in_fp32(name, dtype):
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with precision.autocast(name, "cpu"):
        assert (a @ b).dtype == dtype


def test_unknown_precisions_and_plugins_without_fp16_are_refused():
    class Fp32Only(Plugin):  # a plugin that still calls loss.backward() itself, as the default assumes
        name = "fp32-only"

    with pytest.raises(UsageError, match="must be one of fp32, bf16, fp16"):
        precision.check("fp8", "cpu")
    with pytest.raises(UsageError, match=r"fp32-only does not support it \(it supports fp32, bf16\); fp16 needs"):
        precision.check("fp16", "cpu", Fp32Only)
    precision.check("fp32", "cpu", Fp32Only)


@pytest.mark.skipif(NATIVE_BF16, reason="this CPU has native bf16: nothing to refuse")
def test_bf16_is_a_one_line_error_on_a_cpu_without_native_bf16(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--precision", "bf16", "--steps", "1")
    assert_one_line_error(result, 2, "this CPU has no native bf16", "use --precision fp32")
    assert not runs_dir.exists(), "nothing written"


@pytest.mark.skipif(NATIVE_FP16, reason="this CPU has native fp16: nothing to refuse")
def test_fp16_is_a_one_line_error_on_a_cpu_without_native_fp16(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--precision", "fp16", "--steps", "1")
    assert_one_line_error(result, 2, "this CPU has no native fp16 (AMX-FP16)", "use a CUDA device, or --precision fp32")
    assert not runs_dir.exists(), "nothing written"


@pytest.mark.skipif(not NATIVE_BF16, reason="needs a CPU with native bf16")
def test_bf16_trains_where_the_cpu_has_it(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--precision", "bf16", "--steps", "3", "--no-progress")
    assert result.exit_code == 0, result.output


@pytest.fixture
def fp16_here(monkeypatch):
    """Let fp16 train on this CPU: it computes the same numbers as a CPU with AMX-FP16, only slower."""
    monkeypatch.setattr(precision, "native_fp16", lambda device: True)


def test_the_scaler_skips_an_overflowing_step_and_halves_its_scale():
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = precision.LossScaler("cpu", init_scale=2.0**10)
    before = [p.detach().clone() for p in model.parameters()]
    scaler.backward(model(torch.full((2, 4), math.inf)).sum())
    assert scaler.step(optimizer) is False
    assert scaler.end_of_step() == 1 and scaler.scale == 2.0**9
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "a skipped step moves nothing"
    optimizer.zero_grad()
    scaler.backward(model(torch.ones(2, 4)).sum())
    assert scaler.step(optimizer) is True
    assert scaler.end_of_step() == 0
    # unscaled before the step: the gradient is that of the loss itself, not of loss x 2**9
    assert torch.allclose(model.bias.grad, torch.tensor([2.0]))


def test_fp16_training_logs_its_scale_and_a_resume_continues_from_the_saved_one(fp16_here, runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", *TINY, "--precision", "fp16", "--steps", "4", "--log-every", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    (run_dir,) = (runs_dir / "dcgan").iterdir()
    lines = [json.loads(line) for line in (run_dir / runs.METRICS).read_text().splitlines()]
    logged = [m for m in lines if "event" not in m]
    assert [m["step"] for m in logged] == [2, 4]
    assert all(m["loss_scale"] > 0 and m["skipped_steps"] >= 0 and math.isfinite(m["loss_d"]) for m in logged)
    assert runs.read_config(run_dir)["training"]["precision"] == "fp16"

    step, folder = checkpoint.latest_checkpoint(run_dir)
    with safe_open(str(folder / checkpoint.TRAINING), "pt") as handle:
        saved = json.loads(handle.metadata()["zoo"])["loss_scale"]
    assert saved["scale"] == logged[-1]["loss_scale"] and saved["_growth_tracker"] > 0

    _, _, model = runs.build_from_record(runs.read_record(run_dir), "cpu")
    precision.attach(model, "fp16")
    checkpoint.load_training_state(model, folder)
    assert model.loss_scaler.state_dict() == saved, "the loss scale comes back with the checkpoint"

    result = zoo_cli("train", "dcgan", "--resume", str(run_dir), "--steps", "6", "--no-progress")
    assert result.exit_code == 0, result.output
    assert [s for s, _ in checkpoint.list_checkpoints(run_dir)] == [4, 6]


def test_the_gradients_are_averaged_before_the_scaler_looks_for_overflows():
    # On several processes before_unscale averages the ranks' gradients, so an overflow on one
    # rank is one on all, and every rank skips the same step. Here a stand-in "average" that
    # repairs this rank's overflow shows the order: the step is taken.
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = precision.LossScaler("cpu")
    seen = []

    def average(opt):
        seen.append([p.grad.isfinite().all().item() for p in model.parameters()])
        for p in model.parameters():
            p.grad.nan_to_num_(posinf=1.0, neginf=-1.0)

    scaler.before_unscale = average
    scaler.backward(model(torch.full((2, 4), math.inf)).sum())
    assert scaler.step(optimizer) is True
    assert seen == [[False, True]], "called once, on the scaled gradients, before the overflow check"
