"""zoo bench: one table of sampling and training speed, with ratios, measured on this machine."""

from __future__ import annotations

import re

import pytest
import torch

from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=16")


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    train(TrainRequest("dcgan", overrides=TINY, device="cpu", runs_dir=runs_dir, options=TrainOptions(steps=40, batch_size=32, progress=False, sample_every=1000)))
    return runs_dir


def test_bench_prints_every_variant_with_its_speed_or_its_reason(dcgan_run, zoo_cli, digits_classifier, monkeypatch):
    from zoo.training import precision

    # fp16 training as on a CPU with AMX-FP16 (the same numbers, emulated here), so its row is measured
    monkeypatch.setattr(precision, "native_fp16", lambda device: True)
    result = zoo_cli("bench", "dcgan", "--runs-dir", str(dcgan_run), "--batch", "1,8", "--seconds", "0.05", "--train-steps", "2", "--device", "cpu", "--threads", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("zoo bench dcgan: torch ") and "with 1 CPU thread, onnxruntime with 1 CPU thread" in lines[0]
    assert torch.get_num_threads() == 1, "--threads set torch's own count"
    rows = {(m.group(1).strip(), int(m.group(2))): m.group(3) for m in (re.match(r"^(.+?)\s+(\d+)\s+(.*)$", line) for line in lines) if m}
    for batch in (1, 8):
        assert rows[("pytorch eager fp32", batch)].split()[1] == "1.00x"
        for what in ("onnx fp32", "onnx optimised", "onnx int8"):
            speed, ratio = rows[(what, batch)].split()[:2]
            assert float(speed) > 0 and ratio.endswith("x"), what
        assert "GPU only" in rows[("onnx fp16", batch)]
    assert rows[("fp32", 32)].split()[1] == "1.00x", "training at the run's batch, fp32 the reference"
    speed, ratio = rows[("fp16", 32)].split()[:2]
    assert float(speed) > 0 and ratio.endswith("x"), "fp16 trains with its loss scaler"
    if not precision.native_bf16(torch.device("cpu")):
        assert "this CPU has no native bf16" in rows[("bf16", 32)], "a variant that cannot run says why"
    speed, ratio = rows[("fp32 + channels_last", 32)].split()[:2]
    assert float(speed) > 0 and ratio.endswith("x")


def test_bad_batch_lists_are_one_line_errors(dcgan_run, zoo_cli):
    from support import assert_one_line_error

    result = zoo_cli("bench", "dcgan", "--runs-dir", str(dcgan_run), "--batch", "1,x")
    assert_one_line_error(result, 2, "--batch takes a comma list of whole numbers")


def test_the_speed_column_names_what_a_forecaster_counts():
    from zoo.tools.bench import Row, table

    rows = [Row("sampling", "pytorch eager fp32", 16, 40.0, "torch", 1.0), Row("training", "fp32", 16, 9.5, "cpu", 1.0)]
    lines = table(rows, unit="sequences/s")
    assert [line.split()[2] for line in lines if line.startswith(("sampling", "training"))] == ["sequences/s", "sequences/s"]
    assert "images/s" in table(rows)[0]


def test_each_figure_shows_its_spread_and_a_row_that_varied_too_much_is_marked_not_to_trust():
    from zoo.tools.bench import Row, images_per_second, table

    speed = images_per_second(lambda: sum(range(1000)), batch=4, min_seconds=0.01)
    assert speed.median > 0 and speed.spread >= 0
    steady = Row("sampling", "pytorch eager fp32", 1, 100.0, "torch", 1.0, 0.04)
    lines = table([steady])
    assert "±4%" in lines[1] and "!" not in "".join(lines)
    unsteady = Row("sampling", "onnx fp32", 1, 300.0, "CPU", 3.0, 0.4)
    lines = table([steady, unsteady])
    assert "!±40%" in lines[2] and "Do not trust their figures" in lines[-1]
