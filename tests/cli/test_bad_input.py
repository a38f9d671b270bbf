"""A battery of bad option values: each is refused before any work, in one line naming the option,
with exit code 2, no traceback, never the catch-all's "unexpected", and nothing written."""

from __future__ import annotations

import pytest

from support import assert_one_line_error

TOO_BIG_SEED = str(2**64)

CASES = {
    # zoo train: every TrainOptions field checked against its bounds, and what load_dataset checks
    "train --batch-size 0": ("train dcgan --batch-size 0", "--batch-size must be at least 1, got 0"),
    "train --batch-size -5": ("train dcgan --batch-size -5", "--batch-size must be at least 1"),
    "train --batch-size huge": ("train dcgan --batch-size 10000000", "--batch-size must be at most 65536"),
    "train --steps 0": ("train dcgan --steps 0", "--steps must be at least 1, got 0"),
    "train --epochs 0": ("train dcgan --epochs 0", "--epochs must be at least 1, got 0"),
    "train --seed -1": ("train dcgan --seed -1", "--seed must be at least 0, got -1"),
    "train --seed 2**64": (f"train dcgan --seed {TOO_BIG_SEED}", "--seed must be at most"),
    "train --log-every 0": ("train dcgan --log-every 0", "--log-every must be at least 1, got 0"),
    "train --sample-every 0": ("train dcgan --sample-every 0", "--sample-every must be at least 1"),
    "train --checkpoint-every 0": ("train dcgan --checkpoint-every 0", "--checkpoint-every must be at least 1"),
    "train --keep-checkpoints 0": ("train dcgan --keep-checkpoints 0", "--keep-checkpoints must be at least 1"),
    "train --n-samples 0": ("train dcgan --n-samples 0", "--n-samples must be at least 1"),
    "train --n-samples huge": ("train dcgan --n-samples 100000", "--n-samples must be at most 1024"),
    "train --collapse-patience 0": ("train dcgan --collapse-patience 0", "--collapse-patience must be at least 1"),
    "train --diversity-floor inf": ("train dcgan --diversity-floor inf", "--diversity-floor must be a finite number"),
    "train --diversity-floor nan": ("train dcgan --diversity-floor nan", "--diversity-floor must be a finite number"),
    "train --diversity-floor -1": ("train dcgan --diversity-floor -1", "--diversity-floor must be at least 0"),
    "train --image-size 3": ("train dcgan --image-size 3", "--image-size must be at least 4, got 3"),
    "train --image-size huge": ("train dcgan --image-size 100000", "--image-size must be at most 1024"),
    "train --dataset empty": ("train dcgan --dataset=", "unknown dataset ''"),
    "train --dataset unknown": ("train dcgan --dataset nope", "unknown dataset 'nope'"),
    "train --set inf": ("train dcgan --set lr_generator=inf", "lr_generator: 'inf' is not a finite number"),
    "train --set -inf": ("train dcgan --set lr_generator=-inf", "is not a finite number"),
    "train --set nan": ("train dcgan --set lr_discriminator=nan", "'nan' is not a finite number"),
    "train --set not a number": ("train dcgan --set latent_dim=abc", "latent_dim: 'abc' is not an integer"),
    "train --set unknown key": ("train dcgan --set widthh=3", "unknown config key 'widthh'"),
    "train --set no value": ("train dcgan --set latent_dim", "--set expects key=value"),
    "train --set zero width": ("train dcgan --set generator_width=0", "generator_width must be at least 1"),
    "train --steps and --epochs": ("train dcgan --steps 5 --epochs 1", "give --steps or --epochs, not both"),
    "train unknown model": ("train nosuchmodel", "unknown model 'nosuchmodel'"),
    "train --threads 0": ("train dcgan --threads 0", "--threads must be at least 1, got 0"),
    "train --threads huge": ("train dcgan --threads 100000", "--threads must be at most 1024"),
    "sample --threads -2": ("sample dcgan --threads -2", "--threads must be at least 1, got -2"),
    "generate --threads 0": ("generate x.onnx --threads 0", "--threads must be at least 1, got 0"),
    # zoo sample: counts, rows, seeds and the file written
    "sample -n 0": ("sample dcgan -n 0", "-n must be at least 1, got 0"),
    "sample -n huge": ("sample dcgan -n 100000", "-n must be at most 4096"),
    "sample --nrow 0": ("sample dcgan --nrow 0", "--nrow must be at least 1"),
    "sample --nrow -1": ("sample dcgan --nrow -1", "--nrow must be at least 1, got -1"),
    "sample --seed -1": ("sample dcgan --seed -1", "--seed must be at least 0"),
    "sample --seed 2**64": (f"sample dcgan --seed {TOO_BIG_SEED}", "--seed must be at most"),
    "sample --out empty": ("sample dcgan --out=", "--out must name a .png file, a folder DIR/ or a .npz file, got ''"),
    "sample --out jpg": ("sample dcgan --out x.jpg", "--out must name a .png file"),
    # zoo evaluate: EvaluateRequest's bounds and the metrics list
    "evaluate -n 1": ("evaluate dcgan -n 1", "-n must be at least 2, got 1"),
    "evaluate -n huge": ("evaluate dcgan -n 100000000", "-n must be at most"),
    "evaluate -k 0": ("evaluate vae -k 0", "-k must be at least 1, got 0"),
    "evaluate --batch-size 0": ("evaluate dcgan --batch-size 0", "--batch-size must be at least 1"),
    "evaluate --seed -1": ("evaluate dcgan --seed -1", "--seed must be at least 0"),
    "evaluate --metrics empty": ("evaluate dcgan --metrics=", "--metrics is empty"),
    "evaluate --metrics unknown": ("evaluate dcgan --metrics fid,bogus", "unknown metric 'bogus'"),
    # zoo export: ExportOptions
    "export --fp16 --int8": ("export dcgan --fp16 --int8", "--fp16 and --int8 make two different files"),
    "export --onnx --format other": ("export dcgan --onnx --format tflite", "--onnx and --format tflite disagree"),
    # zoo bench: BenchRequest
    "bench --seconds 0": ("bench dcgan --seconds 0", "--seconds must be at least 0.001"),
    "bench --seconds inf": ("bench dcgan --seconds inf", "--seconds must be a finite number"),
    "bench --train-steps 0": ("bench dcgan --train-steps 0", "--train-steps must be at least 1"),
    "bench --train-batch 0": ("bench dcgan --train-batch 0", "--train-batch must be at least 1"),
    "bench --batch 0": ("bench dcgan --batch 0", "--batch sizes must be at least 1"),
    "bench --batch words": ("bench dcgan --batch one,two", "--batch takes a comma list of whole numbers"),
}


@pytest.mark.battery("options")
@pytest.mark.parametrize("case", list(CASES))
def test_bad_option_values_are_one_line_errors_before_any_work(case, zoo_cli, runs_dir, tmp_path, monkeypatch):
    command, fragment = CASES[case]
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = zoo_cli(*command.split(" "))
    assert "unexpected" not in result.stderr, result.stderr
    assert_one_line_error(result, 2, fragment)
    assert sorted(tmp_path.rglob("*")) == before, "nothing written"


@pytest.mark.battery("disk full")
def test_a_folder_that_cannot_be_written_is_one_line_from_the_system(zoo_cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    result = zoo_cli("train", "dcgan", "--steps", "2", "--no-progress", "--runs-dir", str(blocker / "runs"))
    assert "unexpected" not in result.stderr
    assert_one_line_error(result, 1, "Not a directory", str(blocker))
    assert blocker.read_text() == "in the way"
