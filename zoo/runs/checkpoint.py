"""Checkpoints: safetensors plus JSON, never pickle.

A checkpoint is a folder ``checkpoints/step-NNNNNNNN/`` inside a run, written to a temporary
folder and renamed into place, holding:

``weights.safetensors``
    every tensor of ``Model.modules``, keyed ``<module>.<state_dict key>``; all that sampling
    and export need.
``training.safetensors``
    optimizer state tensors (``optim.<optimizer>.<param index>.<key>``) and random number
    generator states (``rng.cpu``, ``rng.cuda.<i>``); the non-tensor part of the optimizer
    state (param groups, scalar entries) and the step are JSON in the file's metadata under
    ``"zoo"``. Everything needed for ``--resume`` to continue exactly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from zoo import tensor_files
from zoo.atomic import atomic_dir
from zoo.digest import sha256_of
from zoo.contract import Model
from zoo.errors import ZooError

WEIGHTS = "weights.safetensors"
TRAINING = "training.safetensors"
MANIFEST = "checkpoint.json"
"""Written last into a checkpoint: its step and each file's sha256, verified when the file is loaded."""
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:08d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first: folders holding both files and, from zoo's
    manifests on, the manifest of their sha256 (temporary folders are ignored). A checkpoint
    folder appears by one rename and is renamed away before it is removed, so a kill at any
    moment leaves each ``step-N`` folder whole or absent."""
    folder = run_dir / "checkpoints"
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_DIR.match(path.name)
            if match and (path / WEIGHTS).is_file() and (path / TRAINING).is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> tuple[int, Path]:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise ZooError(f"run {run_dir} has no checkpoint yet (no {run_dir / 'checkpoints'}/step-*/{WEIGHTS})")
    return checkpoints[-1]


def save(run_dir: Path, model: Model, step: int, keep: int = 2) -> Path:
    """Write a checkpoint of ``model`` at ``step`` atomically; keep the newest ``keep``."""
    target = checkpoint_dir(run_dir, step)
    with atomic_dir(target) as tmp:
        weights = {
            f"{name}.{key}": tensor.detach().contiguous()
            for name, module in model.modules.items()
            for key, tensor in module.state_dict().items()
        }
        tensor_files.save(_unshare(weights), tmp / WEIGHTS, metadata={"format": "pt", "step": str(step)})
        tensors, state = _training_state(model)
        state["step"] = step
        tensor_files.save(_unshare(tensors), tmp / TRAINING, metadata={"format": "pt", "zoo": json.dumps(state)})
        manifest = {"step": step, "files": {name: sha256_of(tmp / name) for name in (WEIGHTS, TRAINING)}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        # out of the way first, in one rename: a kill mid-removal leaves a temporary folder
        # (removed by the next save), never a step folder with some of its files
        doomed = old.with_name(f".{old.name}.removing.tmp")
        _remove(doomed)
        os.replace(old, doomed)
        _remove(doomed)
    # a process killed mid-save leaves its temporary folder; the run is held by this process now
    for stale in target.parent.glob(".step-*.tmp"):
        _remove(stale)
    return target


def verify(folder: Path, name: str) -> str:
    """The sha256 of ``folder/name``, checked against the checkpoint's manifest (checkpoints
    from before manifests have none, and are taken as they are)."""
    digest = sha256_of(folder / name)
    try:
        recorded = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"][name]
    except FileNotFoundError:
        return digest
    except (OSError, ValueError, KeyError, TypeError):
        raise ZooError(f"{folder / MANIFEST} is damaged; resume from an earlier checkpoint (remove this one) or train again") from None
    if digest != recorded:
        raise ZooError(
            f"{folder / name} is corrupt: its sha256 is not the one recorded when it was saved; "
            "resume from an earlier checkpoint (remove this one) or train again"
        )
    return digest


def load_weights(model: Model, folder: Path) -> str:
    """Load ``weights.safetensors`` of a checkpoint folder into ``model.modules``, verified; its sha256."""
    if not (folder / WEIGHTS).is_file():
        raise ZooError(f"checkpoint file {folder / WEIGHTS} does not exist")
    digest = verify(folder, WEIGHTS)
    tensors = read_safetensors(folder / WEIGHTS, model.device)
    for name, module in model.modules.items():
        own = {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}
        _check_compatible(folder / WEIGHTS, name, module.state_dict(), own)
        module.load_state_dict(own, strict=True)
    unknown = sorted({k.split(".", 1)[0] for k in tensors} - set(model.modules))
    if unknown:
        raise ZooError(
            f"{folder / WEIGHTS} holds modules {', '.join(unknown)} that this model does not have "
            f"(it has {', '.join(model.modules)}): the checkpoint belongs to another model"
        )
    return digest


def load_training_state(model: Model, folder: Path) -> int:
    """Restore optimizer and RNG state from a checkpoint folder; return its step."""
    path = folder / TRAINING
    if path.is_file():
        verify(folder, TRAINING)
    tensors = read_safetensors(path, "cpu")
    try:
        with safe_open(str(path), "pt") as handle:
            state = json.loads(handle.metadata()["zoo"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ZooError(f"{path} has no zoo training state in its metadata ({exc}); it was not written by zoo") from None
    try:
        return _restore(model, path, state, tensors)
    except ZooError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ZooError(
            f"{path}: its training state is damaged ({type(exc).__name__}: {detail}); "
            "resume from an earlier checkpoint (remove this one) or train again"
        ) from None


def _restore(model: Model, path: Path, state: Any, tensors: dict[str, torch.Tensor]) -> int:
    if not isinstance(state, dict) or not isinstance(state.get("optimizers"), dict):
        raise ZooError(f"{path}: its training state has no optimizers; resume from an earlier checkpoint or train again")
    if type(state.get("step")) is not int or state["step"] < 0:
        raise ZooError(f"{path}: its training state's step is {state.get('step')!r}, not a step count; the checkpoint is damaged")
    if "rng.cpu" not in tensors:
        raise ZooError(f"{path} holds no rng.cpu state; the checkpoint is damaged")
    for name, optimizer in model.optimizers.items():
        saved = state["optimizers"].get(name)
        if saved is None:
            raise ZooError(f"{path} has no state for optimizer {name!r}: the checkpoint belongs to another model")
        optimizer.load_state_dict(_optimizer_state_dict(optimizer, name, saved, tensors, model.device))
    if model.loss_scaler is not None and "loss_scale" in state:
        model.loss_scaler.load_state_dict(state["loss_scale"])
    torch.set_rng_state(tensors["rng.cpu"])
    if torch.cuda.is_available():
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
    return state["step"]


def read_safetensors(path: Path, device: torch.device | str) -> dict[str, torch.Tensor]:
    """Read a safetensors file with a one-line error for a missing, truncated or foreign file."""
    if not path.is_file():
        raise ZooError(f"checkpoint file {path} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZooError(
            f"{path} is not a valid safetensors file ({detail}); it may be truncated or foreign: "
            "use another checkpoint of the run or train again"
        ) from None


def _check_compatible(path: Path, module: str, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise ZooError(f"{path} does not match module {module!r} ({'; '.join(parts)}): it belongs to another model or config")
    for key, tensor in expected.items():
        if found[key].shape != tensor.shape:
            raise ZooError(
                f"{path}: {module}.{key} has shape {tuple(found[key].shape)} but the model expects "
                f"{tuple(tensor.shape)}: the run's config.json does not match its weights"
            )


def _training_state(model: Model) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    optimizers = {}
    for name, optimizer in model.optimizers.items():
        state_dict = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, entries in state_dict["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{name}.{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(index), {})[key] = value
        optimizers[name] = {"param_groups": state_dict["param_groups"], "scalars": scalars}
    try:
        json.dumps(optimizers)
    except TypeError as exc:
        raise ZooError(f"optimizer state cannot be stored as JSON ({exc}); keep hyperparameters plain numbers") from None
    state: dict[str, Any] = {"optimizers": optimizers}
    if model.loss_scaler is not None:
        state["loss_scale"] = model.loss_scaler.state_dict()
    return tensors, state


def _optimizer_state_dict(
    optimizer: torch.optim.Optimizer,
    name: str,
    saved: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    device: torch.device,
) -> dict[str, Any]:
    prefix = f"optim.{name}."
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[field] = tensor
    for index, scalars in saved["scalars"].items():
        state.setdefault(int(index), {}).update(scalars)
    groups = saved["param_groups"]
    current = optimizer.state_dict()["param_groups"]
    if len(groups) != len(current) or any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, current)):
        raise ZooError(f"optimizer {name!r} in the checkpoint has a different parameter layout than the model")
    # JSON turns tuples (Adam's betas) into lists; give them back the type the optimizer uses.
    for group, live in zip(groups, current):
        for key, value in group.items():
            if isinstance(live.get(key), tuple) and isinstance(value, list):
                group[key] = tuple(value)
    return {"state": state, "param_groups": groups}


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory; give each its own storage."""
    seen: set[int] = set()
    result = {}
    for key, tensor in tensors.items():
        ptr = tensor.untyped_storage().data_ptr() if tensor.numel() else -1
        if ptr in seen:
            tensor = tensor.clone()
        seen.add(ptr)
        result[key] = tensor
    return result


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
