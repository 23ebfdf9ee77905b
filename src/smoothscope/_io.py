"""Atomic writes (temporary file, then rename) and safe checkpoint loading."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._errors import SmoothscopeError

__all__ = [
    "atomic_write_bytes",
    "load_json",
    "load_state_dict",
    "save_figure",
    "save_json",
    "save_npz",
    "save_state_dict",
]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return _jsonable(np.asarray(obj).tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as JSON (NumPy/torch values converted, non-finite → null)."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def load_json(path: str | os.PathLike) -> Any:
    """Read JSON, with a clear error when the file is missing or malformed."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise SmoothscopeError(f"{path}: expected a JSON file, found none") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SmoothscopeError(f"{path}: expected valid JSON, got {exc}") from exc


def save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Atomically write arrays to a compressed ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buffer.getvalue())


def save_state_dict(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor]) -> Path:
    """Atomically save a ``state_dict`` (tensors only; no pickled code)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a ``state_dict`` with ``weights_only=True``: an untrusted file cannot run code."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise SmoothscopeError(f"{path}: expected a checkpoint file, found none") from exc
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise SmoothscopeError(f"{path}: expected a state_dict checkpoint, got {exc}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise SmoothscopeError(f"{path}: expected a mapping of names to tensors (a state_dict)")
    return dict(state)


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Atomically save a matplotlib figure as PNG and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
