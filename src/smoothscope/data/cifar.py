"""CIFAR-10 from its binary version (``cifar-10-binary.tar.gz``, folder ``cifar-10-batches-bin``).

Each of the six files ``data_batch_1.bin`` … ``data_batch_5.bin`` (training) and
``test_batch.bin`` (test) holds 10000 records of 3073 bytes: one label byte (0..9), then the
32 × 32 red, green and blue planes, row-major with row 0 at the top.

The Python version of CIFAR-10 (``cifar-10-python.tar.gz``, folder ``cifar-10-batches-py``) is a
set of pickles; unpickling runs arbitrary code, so it is refused with an error that names the
binary version instead.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np

from .._errors import SmoothscopeError

__all__ = [
    "ARCHIVE",
    "CIFAR10_CLASSES",
    "CIFAR10_FILES",
    "RECORD_BYTES",
    "binary_paths",
    "find_pickle_version",
    "has_binary_files",
    "pickle_error",
    "read_cifar10_archive",
    "read_cifar10_binary",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names in label order (``batches.meta.txt`` of the binary version)."""

CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
"""The binary files of each split, in the order their records are concatenated."""

RECORD_BYTES = 1 + 3 * 32 * 32
"""One label byte and the three 32 × 32 colour planes."""

RECORDS_PER_FILE = 10000

ARCHIVE = ("cifar-10-binary.tar.gz", 170052171, "c32a1d4ab5d03f1284b67883e8d87530")
"""(name, size in bytes, MD5) of the binary version's archive, as published on
https://www.cs.toronto.edu/~kriz/cifar.html."""
_PICKLE_NAMES = ("data_batch_1", "test_batch", "batches.meta")
_BINARY_HINT = (
    "smoothscope reads only the binary version, cifar-10-binary.tar.gz "
    "(https://www.cs.toronto.edu/~kriz/cifar.html), as the archive or extracted to a folder "
    "cifar-10-batches-bin with data_batch_1.bin … data_batch_5.bin and test_batch.bin"
)


def has_binary_files(folder: Path) -> bool:
    """Whether ``folder`` holds at least one file of CIFAR-10's binary version."""
    names = CIFAR10_FILES["train"] + CIFAR10_FILES["test"]
    return folder.is_dir() and any((folder / name).is_file() for name in names)


def find_pickle_version(folder: Path) -> Path | None:
    """The first trace of CIFAR-10's Python (pickle) version in or under ``folder``, or None.

    Looks for the folder ``cifar-10-batches-py``, the archive ``cifar-10-python.tar.gz`` and
    the pickle files themselves (``data_batch_1``, ``test_batch``, ``batches.meta``).
    """
    if not folder.is_dir():
        return None
    for candidate in (folder / "cifar-10-batches-py", folder / "cifar-10-python.tar.gz"):
        if candidate.exists():
            return candidate
    for name in _PICKLE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def pickle_error(where: Path) -> SmoothscopeError:
    """The error for a pickle version found at ``where``."""
    return SmoothscopeError(
        f"data: found CIFAR-10's Python (pickle) version at {str(where)!r}, which cannot be "
        f"loaded safely; {_BINARY_HINT}"
    )


def binary_paths(folder: Path, split: str | None = None) -> list[Path]:
    """The binary files of ``split`` (both splits when None) in ``folder``, all present.

    Raises:
        SmoothscopeError: a missing file (naming the pickle version when its namesake without
            ``.bin`` is there instead).
    """
    names = CIFAR10_FILES[split] if split else CIFAR10_FILES["train"] + CIFAR10_FILES["test"]
    paths = [folder / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        pickled = [n.removesuffix(".bin") for n in missing if (folder / n[:-4]).is_file()]
        if pickled:
            raise pickle_error(folder / pickled[0])
        raise SmoothscopeError(
            f"data: expected the {len(names)} CIFAR-10 binary files "
            f"{names[0]} … {names[-1]} in {str(folder)!r}, missing {', '.join(missing)}"
        )
    return paths


def _read_file(path: Path) -> np.ndarray:
    """The records of one binary batch file as ``uint8 [10000, 3073]``, validated."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SmoothscopeError(f"data: could not read {str(path)!r}: {exc.strerror}") from exc
    return _records(data, path)


def _records(data: bytes, path: Path | str) -> np.ndarray:
    """``data`` (one batch file's bytes, read from ``path``) as validated records."""
    if data[:1] == b"\x80":  # pickle protocol ≥ 2 opcode; a binary record starts with 0..9
        raise pickle_error(path)
    expected = RECORDS_PER_FILE * RECORD_BYTES
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "oversized"
        raise SmoothscopeError(
            f"data: expected {expected} bytes ({RECORDS_PER_FILE} records of {RECORD_BYTES}) in "
            f"the CIFAR-10 binary file {str(path)!r}, got {len(data)} ({what} file)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(RECORDS_PER_FILE, RECORD_BYTES)
    bad = int((records[:, 0] > 9).sum())
    if bad:
        raise SmoothscopeError(
            f"data: expected labels 0..9 in the first byte of every record of {str(path)!r}, "
            f"got {bad} record(s) with a larger value (corrupt file)"
        )
    return records


def read_cifar10_binary(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of CIFAR-10's binary version from ``folder``.

    Args:
        folder: the folder holding the ``.bin`` files (normally ``cifar-10-batches-bin``).
        split: ``"train"`` (the five data batches, 50000 images) or ``"test"`` (10000).

    Returns:
        ``(images, labels)``: ``uint8 [N, 3, 32, 32]`` (RGB, row 0 at the top) and
        ``uint8 [N]`` in 0..9, in file order.

    Raises:
        SmoothscopeError: a missing file, a file of the wrong size (truncated or not a batch),
            a label byte above 9, or a pickle file where a binary one was expected.
    """
    if split not in CIFAR10_FILES:
        raise SmoothscopeError(f"split: expected 'train' or 'test', got {split!r}")
    records = np.concatenate([_read_file(p) for p in binary_paths(folder, split)])
    images = records[:, 1:].reshape(-1, 3, 32, 32)
    return images, records[:, 0].copy()


def read_cifar10_archive(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits of CIFAR-10 read from the unextracted ``cifar-10-binary.tar.gz``.

    The archive is checked by size and MD5 (:data:`ARCHIVE`) before it is opened; the six
    ``cifar-10-batches-bin/*.bin`` members are read into memory, nothing is extracted.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}`` as in
        :func:`read_cifar10_binary`.
    """
    name, size, md5 = ARCHIVE
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SmoothscopeError(f"data: could not read {str(path)!r}: {exc.strerror}") from exc
    found = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    if len(raw) != size or found != md5:
        raise SmoothscopeError(
            f"data: expected {name} of {size} bytes with MD5 {md5} at {str(path)!r}, got "
            f"{len(raw)} bytes with MD5 {found} (truncated, corrupt or another archive)"
        )
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for info in tar:
                base = info.name.rsplit("/", 1)[-1]
                if info.isfile() and base.endswith(".bin"):
                    members[base] = tar.extractfile(info).read()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SmoothscopeError(f"data: could not read the archive {str(path)!r}: {exc}") from exc
    out = {}
    for split, names in CIFAR10_FILES.items():
        missing = [n for n in names if n not in members]
        if missing:
            raise SmoothscopeError(
                f"data: expected {', '.join(missing)} in the archive {str(path)!r}, found none"
            )
        records = np.concatenate([_records(members[n], f"{path}:{n}") for n in names])
        out[split] = (records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].copy())
    return out
