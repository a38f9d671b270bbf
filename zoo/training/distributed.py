"""Data-parallel training on several processes: the process group, and what each rank does.

``torchrun --nproc_per_node N -m zoo train NAME ...`` starts N copies of ``zoo train``, each
with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment; ``zoo train --nproc N``
starts torchrun itself (:func:`launch`). With a world size above 1, :func:`start` joins the
process group (gloo for CPU tensors, NCCL with one CUDA device per local rank) and the
trainer, through a :class:`Group`:

* draws the same seeded permutation on every rank and gives each rank its own contiguous
  slice of every global batch (:func:`shard`): ``--batch-size`` images per rank, the global
  batch is that times the world size;
* starts every rank from rank 0's weights and buffers, and averages the gradients of every
  step (:func:`prepare`), one of two ways, as the model declares with
  :attr:`zoo.contract.Model.data_parallel`:

  ``"replicate"`` (the default)
      ``torch.distributed._composable.replicate`` on each trained module: DDP's hooks,
      installed on the module in place (state_dict keys unchanged), average the gradients
      during ``backward``, so a model that clips them sees the global batch's gradient.
  ``"optimizer"``
      an optimizer step pre-hook averages the gradients of the optimizer's parameters just
      before each ``optimizer.step()``. For models that deep-copy their modules (replicate
      forbids it) or call a module other than through ``forward`` (replicate's hooks would
      not run, and its gradients would silently stay per rank): the shared GAN base.

* averages the losses of each step over the ranks, and stops every rank at the same step
  (Ctrl-C on one, a non-finite loss on one);
* compares the ranks' parameters before every checkpoint, so replicas that drift apart stop
  the run instead of training on silently.

Only rank 0 writes: the run directory, ``config.json``, ``metrics.jsonl``, samples,
checkpoints and TensorBoard. Every rank computes the sample grids (so a forward pass that
synchronises, such as SyncBatchNorm's, takes place on all of them). Every collective zoo
makes starts with an exchange of where each rank is (:meth:`Group.exchange`), so a model
that takes a different path on one rank (an update skipped because of that rank's own batch)
stops with a one-line error instead of hanging. DDP's own all-reduces (``"replicate"``) and
SyncBatchNorm's are not checked this way: such a model must run the same forward and
backward passes on every rank.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Sequence

from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    import torch

    from zoo.contract import Model

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
"""What torchrun sets for each process it starts."""
DATA_PARALLEL = ("replicate", "optimizer")


class ProcessesDisagree(ZooError):
    """The ranks reached different points of the training step: the model's path depends on its data."""

    every_rank = True  # each rank learns every rank's place, and words the error alike


# -- the environment torchrun gives each process --------------------------------------------


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting its variables)."""
    return any(name in os.environ for name in ENV)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"environment variable {name}={value!r} is not an integer; it is torchrun's to set") from None


def world_size() -> int:
    return env_int("WORLD_SIZE", 1)


def rank() -> int:
    return env_int("RANK", 0)


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes and reports."""
    return rank() == 0


def error_prefix() -> str:
    """Other ranks say who they are when they report an error; rank 0 speaks as a single process does."""
    return f"rank {rank()}: " if world_size() > 1 and not is_main() else ""


# -- sharding --------------------------------------------------------------------------------


def shard(indices: "torch.Tensor", rank: int, world_size: int) -> "torch.Tensor":
    """Rank ``rank``'s part of a global batch: its contiguous slice of ``len // world_size``.

    The parts of the ranks are disjoint and, when ``world_size`` divides the global batch (the
    trainer's always does), cover it.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    per_rank = len(indices) // world_size
    return indices[rank * per_rank : (rank + 1) * per_rank]


# -- devices ---------------------------------------------------------------------------------


def rank_device(name: str | None, local_rank: int, local_world_size: int) -> "torch.device":
    """The device of one of several processes: ``cuda:LOCAL_RANK`` (one GPU each) or the CPU."""
    import torch

    from zoo.device import pick_device

    if name in (None, "auto"):
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        device = pick_device(name)
        if device.type not in ("cpu", "cuda"):
            raise UsageError(f"--device {name} cannot train on several processes (gloo takes CPU tensors, NCCL CUDA ones); use --device cpu")
        if device.type == "cuda" and device.index is not None:
            raise UsageError(f"--device {name} names one GPU, but each of the processes takes its own (cuda:LOCAL_RANK); pass --device cuda")
        kind = device.type
    if kind == "cpu":
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if local_world_size > count:
        raise UsageError(
            f"{local_world_size} processes on this machine need as many CUDA devices, and it has {count}; "
            "start fewer (--nproc, --nproc_per_node) or pass --device cpu"
        )
    return torch.device("cuda", local_rank)


def check_sync_batchnorm(requested: bool, world_size: int, device: "torch.device", model: "Callable[[], Model] | None" = None) -> None:
    """One-line refusals of ``--sync-batchnorm``; ``model`` builds the model to look for BatchNorm layers."""
    if not requested:
        return
    if world_size < 2:
        raise UsageError("--sync-batchnorm only matters with several processes: add --nproc N (N >= 2) or start zoo under torchrun")
    if device.type != "cuda":
        raise UsageError("--sync-batchnorm needs CUDA (NCCL): torch's SyncBatchNorm does not run on the CPU; leave it out with --device cpu")
    if model is not None and not batchnorm_modules(model()):
        raise UsageError("this model has no BatchNorm layers in the networks it trains: --sync-batchnorm would change nothing; leave it out")


def batchnorm_modules(model: "Model") -> list[str]:
    """Names of the trained modules that hold BatchNorm layers."""
    from torch import nn

    modules = model.modules
    return [name for name in trained_modules(model) if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules[name].modules())]


def trained_modules(model: "Model") -> list[str]:
    """Names of the modules some optimizer updates (an EMA copy, say, is not one)."""
    trained = {id(p) for optimizer in model.optimizers.values() for group in optimizer.param_groups for p in group["params"]}
    return [name for name, module in model.modules.items() if any(id(p) in trained for p in module.parameters())]


# -- the process group -----------------------------------------------------------------------


@dataclasses.dataclass
class Group:
    """This process's place among the ranks of a data-parallel run, and the collectives it makes."""

    rank: int
    world_size: int
    local_rank: int
    device: "torch.device"
    created: bool = False
    """Whether :func:`start` created the process group (and :meth:`close` destroys it)."""
    seed: int = 0
    step: int = 0
    """The trainer's current step, for messages."""
    _sequence: int = 0
    _hooks: list[Any] = dataclasses.field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def exchange(self, where: str, payload: Any = None) -> list[Any]:
        """Every rank's ``payload``, after checking that all ranks are at the same ``where``.

        Each collective of the trainer starts here, so ranks that took different paths meet in
        this exchange (of the same shape whatever the path) and all stop with the same error.
        """
        import torch.distributed as dist

        self._sequence += 1
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, (self._sequence, where, payload))
        places = [(sequence, place) for sequence, place, _ in gathered]
        if any(place != (self._sequence, where) for place in places):
            at = "; ".join(f"process {r} at {place} (exchange {sequence})" for r, (sequence, place) in enumerate(places))
            raise ProcessesDisagree(
                f"the processes took different paths in step {self.step}: {at}. The model's train_step makes a choice "
                "that depends on each process's own batch (such as skipping an update), so it cannot train on several "
                "processes as configured: turn that choice off in its config, or train in one process"
            )
        return [payload for _, _, payload in gathered]

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank."""
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def end_of_step(self, step: int, losses: dict[str, float], stop: bool) -> tuple[dict[str, float], bool]:
        """The losses averaged over the ranks, and whether any rank asked to stop."""
        reports = self.exchange(f"the end of step {step}", (sorted(losses), losses, stop))
        keys = reports[0][0]
        for r, (other, _, _) in enumerate(reports):
            if other != keys:
                raise ProcessesDisagree(
                    f"at step {step} process 0 reported the losses {', '.join(keys)} and process {r} {', '.join(other)}: "
                    "the model's train_step depends on each process's own batch, so it cannot train on several processes as configured"
                )
        averaged = {key: sum(float(report[1][key]) for report in reports) / self.world_size for key in losses}
        return averaged, any(report[2] for report in reports)

    def check_replicas(self, model: "Model", step: int) -> None:
        """Stop if the ranks' parameters differ: their gradients were not all averaged."""
        digests = self.exchange(f"the replica check at step {step}", parameter_digests(model))
        drifted = sorted(name for name in digests[0] if any(d.get(name) != digests[0][name] for d in digests[1:]))
        if drifted:
            raise ZooError(
                f"at step {step} the processes' copies of {', '.join(drifted)} differ: their gradients were not averaged "
                "(replicate() only sees calls through a module's forward). Declare data_parallel = \"optimizer\" on the "
                "model class (see zoo.contract.Model), or train in one process"
            )

    def reseed(self, step: int) -> None:
        """Seed this rank's generators for ``step`` from (seed, rank, step): each rank draws its own
        noise, and a resumed run the same as the uninterrupted one (the checkpoint holds rank 0's
        generator state only)."""
        import torch

        key = hashlib.sha256(f"zoo/{self.seed}/{self.rank}/{step}".encode()).digest()
        torch.manual_seed(int.from_bytes(key[:8], "little") >> 1)

    def close(self) -> None:
        import torch.distributed as dist

        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        if self.created and dist.is_initialized():
            dist.destroy_process_group()


def device_for(name: str | None, world_size: int, local_rank: int = 0, local_world_size: int | None = None) -> "torch.device":
    """``--device`` for one process of ``world_size``: as ever alone, ``cuda:LOCAL_RANK`` or the CPU among several."""
    from zoo.device import pick_device

    if world_size < 2:
        return pick_device(name)
    return rank_device(name, local_rank, local_world_size or world_size)


def start(device: "torch.device", seed: int = 0) -> Group | None:
    """Join the process group torchrun describes (creating it if need be); None for a single process.

    ``device`` is this rank's (:func:`device_for`): NCCL for CUDA, gloo for the CPU.
    """
    import torch
    import torch.distributed as dist

    size = world_size()
    if size < 2:
        return None
    created = False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        created = True
    if dist.get_world_size() != size or dist.get_rank() != rank():
        raise ZooError(f"the process group has {dist.get_world_size()} ranks (this one {dist.get_rank()}), but WORLD_SIZE={size} and RANK={rank()}")
    return Group(rank(), size, env_int("LOCAL_RANK", 0), device, created=created, seed=seed)


# -- the model on every rank -----------------------------------------------------------------


def prepare(model: "Model", group: Group, sync_batchnorm: bool = False) -> None:
    """Make the ranks' copies of ``model`` one: rank 0's weights and buffers, averaged gradients."""
    import torch

    mode = getattr(model, "data_parallel", "replicate")
    if mode not in DATA_PARALLEL:
        raise UsageError(f"{type(model).__name__}.data_parallel is {mode!r}; it must be one of {', '.join(DATA_PARALLEL)}")
    trained = trained_modules(model)
    if sync_batchnorm:
        for name in batchnorm_modules(model):
            module = model.modules[name]
            if torch.nn.SyncBatchNorm.convert_sync_batchnorm(module) is not module:
                raise UsageError(f"module {name!r} is itself a BatchNorm layer, which --sync-batchnorm cannot convert in place; leave it out")
    group.exchange("the start of training")
    broadcast_state(model)
    if mode == "replicate":
        from torch.distributed._composable import replicate

        where = {"device_id": group.device} if group.device.type == "cuda" else {}
        for name in trained:
            module = model.modules[name]
            replicate(module, **where)
            # build DDP now, on every rank in the same order, rather than at the module's first call
            state = replicate.state(module)
            if getattr(state, "_init_args", None):
                state.lazy_init()
    elif model.loss_scaler is not None:
        # fp16: average the scaled gradients before the scaler looks for overflows, so that
        # every rank finds the same ones and skips the same steps
        hooks = {id(optimizer): _averaging_hook(group, name) for name, optimizer in model.optimizers.items()}
        model.loss_scaler.before_unscale = lambda optimizer: hooks[id(optimizer)](optimizer, (), {})
    else:
        for name, optimizer in model.optimizers.items():
            group._hooks.append(optimizer.register_step_pre_hook(_averaging_hook(group, name)))


def broadcast_state(model: "Model") -> None:
    """Rank 0's parameters and buffers, into every rank's modules."""
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        for module in model.modules.values():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)


def _averaging_hook(group: Group, name: str) -> Any:
    """An optimizer step pre-hook averaging the gradients of the optimizer's parameters over the ranks."""

    def hook(optimizer: "torch.optim.Optimizer", args: Any, kwargs: Any) -> None:
        import torch
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        params = [p for param_group in optimizer.param_groups for p in param_group["params"]]
        have = [p.grad is not None for p in params]
        everyone = group.exchange(f"optimizer {name!r} in step {group.step}", have)
        # a parameter with a gradient on some rank only is averaged with zeros, as DDP does
        present = [any(flags[i] for flags in everyone) for i in range(len(params))]
        buckets: dict[tuple[Any, Any], list[torch.Tensor]] = {}
        for param, used in zip(params, present):
            if not used:
                continue
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            buckets.setdefault((param.grad.dtype, param.grad.device), []).append(param.grad)
        with torch.no_grad():
            for grads in buckets.values():
                flat = _flatten_dense_tensors(grads)
                dist.all_reduce(flat)
                flat /= group.world_size
                for grad, averaged in zip(grads, _unflatten_dense_tensors(flat, grads)):
                    grad.copy_(averaged)

    return hook


def parameter_digests(model: "Model") -> dict[str, str]:
    """sha256 of each module's parameters (bytes, in order): equal on every rank when they agree."""
    import torch

    digests = {}
    for name, module in model.modules.items():
        h = hashlib.sha256()
        for key, param in module.named_parameters():
            h.update(key.encode())
            h.update(param.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        digests[name] = h.hexdigest()
    return digests


# -- zoo train --nproc N ---------------------------------------------------------------------


def check_launch(nproc: int) -> None:
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    if launched():
        raise UsageError(
            f"--nproc starts torchrun itself, but this process already runs under it (WORLD_SIZE={os.environ.get('WORLD_SIZE', '?')}); leave --nproc out"
        )


def without_nproc(args: Sequence[str]) -> list[str]:
    """The command line with ``--nproc N`` (or ``--nproc=N``) taken out."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch_command(nproc: int, zoo_args: Sequence[str]) -> list[str]:
    """torchrun on this machine (``--standalone``: a free port, so runs side by side do not collide)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), "-m", "zoo", *zoo_args]


def launch(nproc: int, zoo_args: Sequence[str]) -> int:
    """Run ``zoo ZOO_ARGS`` on ``nproc`` processes under torchrun; the exit code of the first to fail.

    This process becomes torchrun's agent (``torch.distributed.run.run`` on
    :func:`launch_command`'s arguments), so that a rank's failure ends with that rank's own
    one-line error rather than torchrun's traceback and failure report. Ctrl-C reaches the
    agent, which passes it on to the processes (they finish the step, rank 0 saves a checkpoint).
    """
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # the ranks have said what went wrong
    args = get_args_parser().parse_args(launch_command(nproc, zoo_args)[3:])
    try:
        run(args)
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        code = failure.exitcode
        return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0
