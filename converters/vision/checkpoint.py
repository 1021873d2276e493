"""Per-epoch training checkpoints (atomic writes) for ``--resume``."""
from __future__ import annotations

import os
from pathlib import Path


def save_checkpoint(path: Path, epoch: int, model, optimizer, extra: dict | None = None) -> None:
    """Write model + optimizer state after ``epoch`` (1-based count of finished epochs)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "extra": extra or {}}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, model, optimizer=None) -> int:
    """Restore a checkpoint into ``model`` (and ``optimizer``); return the finished epoch count."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])


def start_epoch(path: Path, model, optimizer, resume: bool) -> int:
    """0 for a fresh run; the finished epoch count when resuming from an existing checkpoint."""
    if resume and Path(path).is_file():
        return load_checkpoint(path, model, optimizer)
    return 0
