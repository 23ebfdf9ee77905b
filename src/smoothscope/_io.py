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
    "MAX_ARRAY_BYTES",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "atomic_write_bytes",
    "check_path_name",
    "check_writable_dir",
    "check_writable_file",
    "load_array",
    "load_json",
    "load_state_dict",
    "relative_paths",
    "save_figure",
    "save_json",
    "save_npz",
    "save_state_dict",
]


_UMASK_LOCK = threading.Lock()

NAME_MAX = 255
"""Longest file or folder name, in bytes (Linux, macOS and Windows file systems)."""
PATH_MAX = 4096
"""Longest path, in bytes (Linux)."""
MAX_JSON_BYTES = 256 * 2**20
"""Largest JSON file read (results, configs and profiles are far smaller)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a JSON file (ours nest fewer than 10)."""
MAX_ARRAY_BYTES = 4 * 2**30
"""Largest array an input file (``.npy``, ``.npz``) may hold: 4 GiB of memory once read."""


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


def _short_path(path: Any) -> str:
    text = str(path)
    return text if len(text) <= 80 else f"{text[:40]}…{text[-30:]}"


def check_path_name(path: str | os.PathLike, name: str) -> Path:
    """Raise unless every part of ``path`` is at most :data:`NAME_MAX` bytes and the whole at
    most :data:`PATH_MAX` (a longer one fails in the operating system, after any compute)."""
    path = Path(path)
    encoded = os.fsencode(path)
    if len(encoded) > PATH_MAX:
        raise SmoothscopeError(
            f"{name}: expected a path of at most {PATH_MAX} bytes, got {len(encoded)} bytes"
        )
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise SmoothscopeError(
                f"{name}: expected file and folder names of at most {NAME_MAX} bytes, got one "
                f"of {size} bytes ({_short_path(part)})"
            )
    return path


def _writable_ancestor(path: Path, name: str) -> None:
    parent = path
    try:
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    except OSError as exc:
        raise SmoothscopeError(f"{name}: cannot use {_short_path(path)} ({exc.strerror})") from exc
    if not parent.is_dir():
        raise SmoothscopeError(
            f"{name}: expected a folder path, but {_short_path(parent)} is a file"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SmoothscopeError(
            f"{name}: expected a writable location, got {_short_path(path)} "
            f"({_short_path(parent)} is not writable)"
        )


def check_writable_file(path: str | os.PathLike, name: str) -> Path:
    """Raise unless ``path`` can be written as a file (checked before any compute)."""
    path = check_path_name(path, name)
    if path.is_dir():
        raise SmoothscopeError(f"{name}: expected a file path, got the directory {path}")
    _writable_ancestor(path.parent, name)
    if path.exists() and not os.access(path, os.W_OK):
        raise SmoothscopeError(f"{name}: expected a writable file, got {_short_path(path)}")
    return path


def check_writable_dir(path: str | os.PathLike, name: str) -> Path:
    """Raise unless ``path`` is, or can be created as, a writable folder (checked before any
    compute, without writing anything)."""
    path = check_path_name(path, name)
    if path.exists() and not path.is_dir():
        raise SmoothscopeError(f"{name}: expected a directory, got the file {path}")
    _writable_ancestor(path, name)
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


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, walked without recursion (stops past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(path: str | os.PathLike) -> Any:
    """Read JSON, with a one-line error when the file is missing, malformed, over
    :data:`MAX_JSON_BYTES`, nested deeper than :data:`MAX_JSON_DEPTH`, or holds a number
    Python will not read (an integer of more than 4300 digits)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise SmoothscopeError(
                f"{path}: expected a JSON file of at most {MAX_JSON_BYTES // 2**20} MiB, got "
                f"{size / 2**20:.0f} MiB"
            )
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError as exc:
        raise SmoothscopeError(f"{path}: expected a JSON file, found none") from exc
    except IsADirectoryError as exc:
        raise SmoothscopeError(f"{path}: expected a JSON file, got a directory") from exc
    except RecursionError as exc:
        raise SmoothscopeError(
            f"{path}: expected valid JSON, got arrays or objects nested too deeply"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, or a 5000-digit integer
        reason = " ".join(str(exc).split())[:200]
        raise SmoothscopeError(f"{path}: expected valid JSON, got {reason}") from exc
    except OSError as exc:
        raise SmoothscopeError(f"{path}: cannot read it ({exc.strerror})") from exc
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise SmoothscopeError(
            f"{path}: expected JSON nested at most {MAX_JSON_DEPTH} levels deep, got more"
        )
    return data


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


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.3g} PiB"  # pragma: no cover


def _check_archive(path: Path, what: str) -> None:
    """Refuse a zip archive (``torch.save``'s format) whose members would decompress to far
    more than the file holds: ``torch.save`` stores them uncompressed."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load reports the corruption
    stored = path.stat().st_size
    if declared > 2 * stored + 2**20:
        raise SmoothscopeError(
            f"{path}: expected a {what}, but its archive declares {_size(declared)} of data in "
            f"a file of {_size(stored)} (a decompression bomb is refused)"
        )


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a ``state_dict`` with ``weights_only=True``: an untrusted file cannot run code."""
    if Path(path).is_file():
        _check_archive(Path(path), "state_dict checkpoint")
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


def _array_header(fh: Any) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:
        shape, _, dtype = fmt._read_array_header(fh, version)
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _check_header(
    path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype, holds: int, max_bytes: int
) -> None:
    if dtype.hasobject:
        raise SmoothscopeError(
            f"{name}: {path.name} holds Python objects (pickles are refused); save a plain "
            "numeric array"
        )
    count = 1
    for n in shape:
        count *= n
    claimed = count * dtype.itemsize
    if claimed > max_bytes:
        raise SmoothscopeError(
            f"{name}: {path.name} declares an array {list(shape)} of {dtype} ({_size(claimed)}); "
            f"at most {_size(max_bytes)} is read"
        )
    if claimed > holds:
        raise SmoothscopeError(
            f"{name}: {path.name} declares an array {list(shape)} of {dtype} ({_size(claimed)}) "
            f"but holds {_size(holds)}: a corrupt or hostile header"
        )


def load_array(
    path: str | os.PathLike,
    name: str = "--inputs",
    *,
    keys: tuple[str, ...] = ("images", "inputs", "x"),
    max_bytes: int = MAX_ARRAY_BYTES,
) -> tuple[np.ndarray, str | None]:
    """One numeric array from a ``.npy`` or ``.npz`` file, its header checked before any
    memory is taken: pickled objects, a declared size over ``max_bytes`` or over what the file
    holds, and unreadable files are one-line errors naming ``name``.

    A ``.npz`` must hold one array, or one of those named in ``keys`` (first found). Returns
    the array and the ``.npz`` key (None for ``.npy``).
    """
    import zipfile

    path = Path(path)
    try:
        if path.suffix == ".npz" or zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}
                if not members:
                    raise SmoothscopeError(f"{name}: {path.name} holds no array")
                key = next((k for k in keys if k in members), None)
                if key is None and len(members) != 1:
                    raise SmoothscopeError(
                        f"{name}: expected one array in {path.name} (or one named "
                        f"{', '.join(keys)}), got {', '.join(sorted(members)[:8])}"
                    )
                key = key or next(iter(members))
                info = archive.getinfo(members[key])
                with archive.open(info) as fh:
                    shape, dtype = _array_header(fh)
                _check_header(path, name, shape, dtype, info.file_size, max_bytes)
                with archive.open(info) as fh:
                    array = np.lib.format.read_array(fh, allow_pickle=False)
            return array, key
        with path.open("rb") as fh:
            shape, dtype = _array_header(fh)
            holds = path.stat().st_size - fh.tell()
        _check_header(path, name, shape, dtype, holds, max_bytes)
        return np.load(path, allow_pickle=False), None
    except SmoothscopeError:
        raise
    except MemoryError as exc:
        raise SmoothscopeError(f"{name}: {path.name} does not fit in memory") from exc
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise SmoothscopeError(f"{name}: cannot read {path.name} as .npy/.npz ({reason})") from exc
