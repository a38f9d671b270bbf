"""Sampling throughput of the DCGAN generator: PyTorch eager against onnxruntime.

Builds DCGAN for MNIST-shaped (1x28x28) and 64x64 colour images, exports the generator with
zoo's ONNX exporter (printing its parity figure), and measures images/s at batch 1 and 64 for

* eager: the exported module itself in PyTorch (``torch.inference_mode``);
* onnxruntime CPU provider, and the CUDA provider when one really loads;

printed as one table with ratios to eager. Not a test: run it on a quiet machine.

    python benchmarks/sample_speed.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zoo.runs import checkpoint
from zoo.contract import DataSpec
from zoo.export import ExportSource, get_exporter
from zoo.models import get_model
from zoo.runtime import OnnxGenerator, cuda_driver_loads


def rate(fn, batch: int, seconds: float) -> float:
    """Images/s of ``fn()`` over about ``seconds`` of repeated calls, after a warm-up."""
    for _ in range(3):
        fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 5:
        fn()
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    plugin = get_model("dcgan")
    exporter = get_exporter("onnx")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ((1, 28, 28), (3, 64, 64)):
            torch.manual_seed(0)
            model = plugin.build(plugin.Config(), DataSpec(*shape), "cpu")
            folder = checkpoint.save(Path(tmp) / "x".join(map(str, shape)), model, step=0)
            graph = model.export_graphs()["generator"]
            source = ExportSource.of_checkpoint("dcgan", "generator", folder, 0, shape)
            report = exporter.export(graph, source, Path(tmp) / f"dcgan-{'x'.join(map(str, shape))}.onnx")
            parity = max(report.checks["max_abs_diff"].values())
            runtimes = {"onnxruntime CPU": OnnxGenerator(report.path, device="cpu")}
            if cuda_driver_loads():
                try:
                    runtimes["onnxruntime CUDA"] = OnnxGenerator(report.path, device="cuda")
                except Exception as exc:  # noqa: BLE001 - report and measure the rest
                    print(f"(CUDA provider unavailable: {exc})")
            module = graph.module.eval()
            for batch in (1, 64):
                latent = torch.randn(batch, plugin.Config().latent_dim)
                with torch.inference_mode():
                    eager = rate(lambda: module(latent), batch, args.seconds)
                feeds = {"latent": latent.numpy().astype(np.float32)}
                rows.append(("x".join(map(str, shape)), batch, "PyTorch eager", eager, 1.0, parity))
                for label, runtime in runtimes.items():
                    speed = rate(lambda: runtime.run(feeds), batch, args.seconds)
                    rows.append(("x".join(map(str, shape)), batch, label, speed, speed / eager, parity))

    print(f"DCGAN generator sampling, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"{'image':<9} {'batch':>5}  {'backend':<17} {'images/s':>10} {'vs eager':>9} {'parity':>9}")
    for image, batch, backend, speed, ratio, parity in rows:
        print(f"{image:<9} {batch:>5}  {backend:<17} {speed:>10.0f} {ratio:>9.2f} {parity:>9.1e}")


if __name__ == "__main__":
    main()
