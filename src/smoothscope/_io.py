"""Atomic writes (temporary file, then rename) and safe checkpoint loading.

Files are written with the mode a plain ``open()`` would give (``0o666`` less the umask), so
that a run directory shared by a group stays readable; paths stored inside a run directory are
relative to it (:func:`relative_paths`), so that it can be moved.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._errors import SmoothscopeError

__all__ = [
    "atomic_write_bytes",
    "check_writable_file",
    "load_json",
    "load_state_dict",
    "relative_paths",
    "save_figure",
    "save_json",
    "save_npz",
    "save_state_dict",
]


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets mode ``0o666 & ~umask`` (``mkstemp`` alone would give 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
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


def check_writable_file(path: str | os.PathLike, name: str) -> Path:
    """Raise unless ``path`` can be written as a file (checked before any compute)."""
    path = Path(path)
    if path.is_dir():
        raise SmoothscopeError(f"{name}: expected a file path, got the directory {path}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SmoothscopeError(f"{name}: expected a writable location, got {path}")
    return path


def relative_paths(obj: Any, root: str | os.PathLike) -> Any:
    """``obj`` with every string that is a path inside ``root`` made relative to ``root``."""
    root = Path(root)
    prefixes = {f"{p}{os.sep}" for p in (root, root.absolute(), root.resolve())}
    if isinstance(obj, Mapping):
        return {k: relative_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [relative_paths(v, root) for v in obj]
    if isinstance(obj, Path):
        obj = str(obj)
    if isinstance(obj, str):
        for prefix in sorted(prefixes, key=len, reverse=True):
            if obj.startswith(prefix) and prefix != f".{os.sep}":
                return obj[len(prefix) :]
    return obj


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
        with warnings.catch_warnings():  # torch warns about old pickle protocols on stderr
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise SmoothscopeError(f"{path}: expected a checkpoint file, found none") from exc
    except IsADirectoryError as exc:
        raise SmoothscopeError(f"{path}: expected a checkpoint file, got a directory") from exc
    except pickle.UnpicklingError as exc:  # torch's message advises weights_only=False: never
        raise SmoothscopeError(
            f"{path}: expected a state_dict checkpoint of tensors; it holds other Python "
            "objects, which are refused because unpickling them could run code"
        ) from exc
    except Exception as exc:  # torch raises several types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SmoothscopeError(
            f"{path}: expected a state_dict checkpoint, got an unreadable file ({reason})"
        ) from exc
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
