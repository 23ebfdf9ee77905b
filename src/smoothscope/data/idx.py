"""Folders of the four IDX files of MNIST or Fashion-MNIST, parsed and verified.

A folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or gzipped (and the dotted
spelling ``train-images.idx3-ubyte`` is accepted). The files are parsed by
:mod:`smoothscope.data.digits`' IDX reader; Fashion-MNIST's are recognised by the size and
sha256 of their content (:data:`FASHION_MNIST_SHA256`).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._errors import SmoothscopeError
from . import digits as _digits

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SHA256",
    "IDX_COUNTS",
    "file_stamp",
    "idx_files",
    "read_idx_folder",
]

FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": (
        47040016,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train-labels-idx1-ubyte": (
        60008,
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "t10k-images-idx3-ubyte": (
        7840016,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "t10k-labels-idx1-ubyte": (
        10008,
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}
"""(size in bytes, sha256) of each Fashion-MNIST IDX file *after* gunzip.

The content is checked, not the archive: Debian recompressed the upstream ``.gz`` files (its
``train-images-idx3-ubyte.gz`` is 26421856 bytes, upstream's 26421880), so the same images come
in gzip files of different hashes. Computed from Debian's ``dataset-fashion-mnist``
0.0~git20200523.55506a9-1; docs/data.md lists upstream's archive MD5s."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Fashion-MNIST's class names in label order."""

IDX_COUNTS = {"train": 60000, "test": 10000}
"""Images per split in MNIST and Fashion-MNIST (checked)."""

_IDX_PREFIX = {"train": "train", "test": "t10k"}


def idx_files(folder: Path) -> dict[str, Path]:
    """The IDX files present in ``folder``, keyed by their base name (without ``.gz``)."""
    found = {}
    for base in FASHION_MNIST_SHA256:
        dotted = base.replace("-idx", ".idx")
        for name in (base, f"{base}.gz", dotted, f"{dotted}.gz"):
            if (folder / name).is_file():
                found[base] = folder / name
                break
    return found


def file_stamp(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """``(path, size, mtime_ns)`` of each file: a cache key that changes with the files."""
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


@lru_cache(maxsize=3)
def _read_idx_folder(
    stamp: tuple[tuple[str, int, int], ...], verify_fashion: bool
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], bool]:
    """Parse the four IDX files of ``stamp`` (train/test images and labels, in the order of
    :data:`FASHION_MNIST_SHA256`). Returns ``({split: (uint8 [N,1,28,28], uint8 [N])},
    is_fashion)`` where ``is_fashion`` says whether all four match Fashion-MNIST's hashes.
    With ``verify_fashion`` a mismatch is an error."""
    paths = [Path(s[0]) for s in stamp]
    arrays = {}
    is_fashion = True
    for (base, (size, sha)), path in zip(FASHION_MNIST_SHA256.items(), paths, strict=True):
        data = _digits._read_bytes(path)
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            if verify_fashion:
                raise SmoothscopeError(
                    f"data: expected Fashion-MNIST's {base} ({size} bytes, sha256 {sha[:12]}…) "
                    f"at {str(path)!r}, got {len(data)} bytes of another content (corrupt, "
                    f"truncated or not Fashion-MNIST)"
                )
            is_fashion = False
        images = base.split("-")[1] == "images"
        magic = _digits._IMAGES_MAGIC if images else _digits._LABELS_MAGIC
        arrays[base] = _digits._parse_idx(data, path, magic, 3 if images else 1)
    out = {}
    for split, prefix in _IDX_PREFIX.items():
        images = arrays[f"{prefix}-images-idx3-ubyte"]
        labels = arrays[f"{prefix}-labels-idx1-ubyte"]
        where = str(paths[0].parent)
        if images.shape[1:] != (28, 28) or images.shape[0] != IDX_COUNTS[split]:
            raise SmoothscopeError(
                f"data: expected {IDX_COUNTS[split]} images of 28×28 in the {split} IDX file "
                f"of {where!r}, got shape {images.shape}"
            )
        if labels.shape[0] != images.shape[0] or int(labels.max()) > 9:
            raise SmoothscopeError(
                f"data: expected {images.shape[0]} labels in 0..9 in the {split} IDX labels of "
                f"{where!r}, got {labels.shape[0]} with maximum {int(labels.max())}"
            )
        out[split] = (images[:, None], labels)
    return out, is_fashion


def read_idx_folder(
    folder: Path, *, verify_fashion: bool
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], bool]:
    """Parse the four IDX files of ``folder``: ``({split: (uint8 [N, 1, 28, 28], uint8 [N])},
    is_fashion)``, where ``is_fashion`` says whether all four are Fashion-MNIST's.

    Parsed folders are cached in this process (keyed by path, size and modification time).

    Raises:
        SmoothscopeError: a missing file, a bad magic number, a truncated or corrupt file,
            counts other than 60000 and 10000, labels above 9; with ``verify_fashion``, a file
            whose content is not Fashion-MNIST's.
    """
    files = idx_files(folder)
    missing = [base for base in FASHION_MNIST_SHA256 if base not in files]
    if missing:
        raise SmoothscopeError(
            f"data: expected the IDX files {', '.join(f'{m}[.gz]' for m in missing)} in "
            f"{str(folder)!r} beside {', '.join(p.name for p in files.values())}, found none"
        )
    return _read_idx_folder(file_stamp([files[b] for b in FASHION_MNIST_SHA256]), verify_fashion)
