"""Run under torchrun by tests/test_distributed.py: every rank trains tiny models through
``zoo.training.trainer.train`` and writes the sha256 of its copy of the parameters, so the test can
compare the ranks with each other and with rank 0's checkpoint.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/training/ddp_worker.py OUT STEPS NAME[@OPTION] [KEY=VALUE ...] [-- ...]

Each NAME[@OPTION] trains into its own runs folder, OUT/NAME[@OPTION]/runs. OPTION is a
precision (fp16 trains here although this CPU emulates it, slowly, with the same numbers as
native fp16) or ``compile`` (torch.compile of every rank's modules).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from zoo.training import distributed, precision
from zoo.training.trainer import TrainOptions, TrainRequest, train


def main(out: Path, steps: int, specs: list[list[str]]) -> None:
    # The process group is this script's, so train() joins it and leaves it open for the next model.
    dist.init_process_group("gloo")
    try:
        precision.native_fp16 = lambda device: True
        for label, *overrides in specs:
            name, _, option = label.partition("@")
            options = TrainOptions(
                steps=steps, batch_size=16, log_every=2, sample_every=4, checkpoint_every=3, progress=False,
                precision="fp16" if option == "fp16" else "fp32", compile=option == "compile",
            )  # fmt: skip
            result = train(TrainRequest(name, overrides=overrides, device="cpu", runs_dir=out / label / "runs", options=options))
            report = {"run_dir": str(result.run_dir), "step": result.step, "digests": distributed.parameter_digests(result.model)}
            (out / f"{label}-rank-{dist.get_rank()}.json").write_text(json.dumps(report))
        # ranks at different points of a step meet in the same exchange and stop with one message
        group = distributed.Group(dist.get_rank(), dist.get_world_size(), dist.get_rank(), torch.device("cpu"))
        try:
            group.exchange(f"place {dist.get_rank()}")
            message = "no error"
        except distributed.ProcessesDisagree as exc:
            message = str(exc)
        (out / f"disagree-rank-{dist.get_rank()}.txt").write_text(message)
    finally:
        dist.destroy_process_group()
    # as zoo's CLI does under torchrun: no interpreter teardown, where gloo's threads can abort
    # a process that did all its work (pytorch/pytorch#179291)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    out, steps, rest = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    specs: list[list[str]] = [[]]
    for arg in rest:
        if arg == "--":
            specs.append([])
        else:
            specs[-1].append(arg)
    main(out, steps, specs)
