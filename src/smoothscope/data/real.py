"""Real image datasets from local files: CIFAR-10, Fashion-MNIST, MNIST; the sklearn digits as
the embedded fallback.

Nothing is downloaded. The files are looked for, in this order, in

1. the folder given as ``data_dir`` (the CLI's ``--data-dir``);
2. the folders of the ``SMOOTHSCOPE_DATA`` environment variable (``os.pathsep``-separated);
3. the Debian package's folder, ``/usr/share/datasets/fashion-mnist``
   (``apt-get install dataset-fashion-mnist``; Fashion-MNIST only);
4. the user's cache, ``$XDG_CACHE_HOME/smoothscope`` (default ``~/.cache/smoothscope``).

In each of these roots a dataset is found in a subfolder named after it, or in the root itself:

* ``cifar10``: ``cifar-10-batches-bin/`` (the folder of ``cifar-10-binary.tar.gz``), ``cifar10/``
  or the root, holding ``data_batch_1.bin`` … ``data_batch_5.bin`` and ``test_batch.bin``, or
  the archive itself, unextracted, checked by size and MD5 (:mod:`smoothscope.data.cifar`; the
  pickle version is refused);
* ``fashion-mnist``: ``fashion-mnist/`` or the root, holding the four IDX files
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-…``; plain or ``.gz``),
  checked by size and sha256 (:data:`FASHION_MNIST_SHA256`);
* ``mnist``: ``mnist/`` or the root, the same four IDX files (checked by their structure: IDX
  magic, 28 × 28 images, 60000 + 10000 records, labels 0..9). A root whose IDX files are
  Fashion-MNIST's is not taken for MNIST.

``"auto"`` picks CIFAR-10 when the user has it, else Fashion-MNIST, else the digits. Every file
is validated when the dataset is resolved, before an experiment writes anything.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from . import cifar
from . import digits as _digits
from .idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SHA256,
    file_stamp,
    idx_files,
    read_idx_folder,
)

__all__ = [
    "DATASETS",
    "DEBIAN_DIRS",
    "ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SHA256",
    "INSTALL_HINTS",
    "DatasetInfo",
    "cache_dir",
    "load_images",
    "resolve_dataset",
    "rotation_templates",
    "search_roots",
]

DATASETS = ("cifar10", "fashion-mnist", "mnist", "digits")
"""The dataset names; ``"auto"`` resolves to one of them."""

ENV_VAR = "SMOOTHSCOPE_DATA"
"""Environment variable: folders (``os.pathsep``-separated) searched after ``data_dir``."""

DEBIAN_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
"""Where Debian packages install a dataset (``dataset-fashion-mnist``)."""

_DIGIT_CLASSES = tuple(str(d) for d in range(10))
_ALIASES = {
    "auto": "auto",
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "mnist": "mnist",
    "digits": "digits",
}
_SUBFOLDERS = {
    "cifar10": ("cifar-10-batches-bin", "cifar10", "cifar-10"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST"),
    "mnist": ("mnist", "MNIST"),
}
_SPLITS = ("train", "test", "all")
_N_DIGITS = 1797
_DIGITS_TEST_EVERY = 5  # digits: image i is in the test split when i % 5 == 4
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as in smoothscope.data.images


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`resolve_dataset` found.

    Attributes:
        name: ``"cifar10"``, ``"fashion-mnist"``, ``"mnist"`` or ``"digits"``.
        source: the folder the files were read from, or ``"embedded"`` (scikit-learn's digits).
        classes: class names in label order.
        channels: native channels (3 for CIFAR-10, else 1).
        size: native image side in pixels (32, 28, or 8 for the digits).
        n_train, n_test: images per split.
        check: how the files were verified.
    """

    name: str
    source: str
    classes: tuple[str, ...]
    channels: int
    size: int
    n_train: int
    n_test: int
    check: str

    def describe(self) -> str:
        """``"<name> (<source>)"``, the form experiments record under ``"data"``."""
        return f"{self.name} ({self.source})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d


# --------------------------------------------------------------------------------------------
# where to look
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The user's cache root: ``$XDG_CACHE_HOME/smoothscope``, default ``~/.cache/smoothscope``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smoothscope"


def _user_dir(value: object, what: str) -> Path:
    try:
        path = Path(os.fspath(value)).expanduser()  # type: ignore[arg-type]
    except TypeError as exc:
        raise SmoothscopeError(f"{what}: expected a folder path, got {value!r}") from exc
    if not path.is_dir():
        raise SmoothscopeError(f"{what}: expected an existing folder, got {str(path)!r}")
    return path


def search_roots(
    data_dir: str | os.PathLike[str] | None = None, name: str | None = None
) -> list[Path]:
    """The roots searched, in order: ``data_dir``, the folders of ``$SMOOTHSCOPE_DATA``, the
    Debian folder of dataset ``name`` (if any, and installed), the user's cache (if present).

    A ``data_dir`` or an environment entry that is not an existing folder is an error.
    """
    roots = []
    if data_dir is not None:
        roots.append(_user_dir(data_dir, "data_dir"))
    for part in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if part.strip():
            roots.append(_user_dir(part.strip(), ENV_VAR))
    debian = DEBIAN_DIRS.get(name or "")
    if debian is not None and debian.is_dir():
        roots.append(debian)
    cache = cache_dir()
    if cache.is_dir():
        roots.append(cache)
    return roots


def _candidates(name: str, data_dir) -> list[tuple[Path, bool]]:
    """Folders that may hold ``name``, in search order, each with whether it is named for it
    (a subfolder named after the dataset, or its Debian folder) rather than a root."""
    out: list[tuple[Path, bool]] = []
    for root in search_roots(data_dir, name):
        if root == DEBIAN_DIRS.get(name):
            out.append((root, True))
        else:
            named = root.name in _SUBFOLDERS[name]  # e.g. --data-dir ~/data/fashion-mnist
            out += [(root / sub, True) for sub in _SUBFOLDERS[name]] + [(root, named)]
    return [(p, named) for p, named in out if p.is_dir()]


# --------------------------------------------------------------------------------------------
# resolving a dataset
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _read_cifar(
    stamp: tuple[tuple[str, int, int], ...],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits from the six ``.bin`` files of ``stamp``, or from its one archive."""
    first = Path(stamp[0][0])
    if len(stamp) == 1:
        return cifar.read_cifar10_archive(first)
    return {split: cifar.read_cifar10_binary(first.parent, split) for split in cifar.CIFAR10_FILES}


def _find_cifar(data_dir) -> Path | None:
    """The first folder with the binary files, or the first binary archive; raises on the
    pickle version met first."""
    for folder, _ in _candidates("cifar10", data_dir):
        if cifar.has_binary_files(folder):
            return folder
        if (folder / cifar.ARCHIVE[0]).is_file():
            return folder / cifar.ARCHIVE[0]
        pickled = cifar.find_pickle_version(folder)
        if pickled is not None:
            raise cifar.pickle_error(pickled)
    return None


def _find_idx(name: str, data_dir):
    """The first folder holding ``name`` (fashion-mnist or mnist) and its parsed arrays."""
    for folder, named in _candidates(name, data_dir):
        files = idx_files(folder)
        if not files:
            continue
        if name == "fashion-mnist":
            if named:
                return folder, read_idx_folder(folder, verify_fashion=True)[0]
            arrays, is_fashion = read_idx_folder(folder, verify_fashion=False)
            if is_fashion:
                return folder, arrays
        else:
            arrays, is_fashion = read_idx_folder(folder, verify_fashion=False)
            if not is_fashion:
                return folder, arrays
    return None


def _arrays(name: str, data_dir) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], DatasetInfo]:
    """Locate, validate and parse ``name``: ``({split: (uint8 images, uint8 labels)}, info)``;
    digits give ``({}, info)``."""
    if not isinstance(name, str) or name.lower() not in _ALIASES:
        raise SmoothscopeError(
            f"dataset: expected one of auto, {', '.join(DATASETS)}, got {name!r}"
        )
    name = _ALIASES[name.lower()]
    search_roots(data_dir)  # a bad data_dir or $SMOOTHSCOPE_DATA is an error even for digits
    if name in ("auto", "cifar10"):
        folder = _find_cifar(data_dir)
        if folder is not None:
            if folder.is_file():
                arrays = _read_cifar(file_stamp([folder]))
                check = "size and MD5 of the archive, size and labels of every record"
            else:
                arrays = _read_cifar(file_stamp(cifar.binary_paths(folder)))
                check = "size and labels of every binary record"
            info = DatasetInfo(
                "cifar10",
                str(folder),
                cifar.CIFAR10_CLASSES,
                3,
                32,
                len(arrays["train"][1]),
                len(arrays["test"][1]),
                check,
            )
            return arrays, info
        if name == "cifar10":
            raise _not_found("cifar10", data_dir)
    if name in ("auto", "fashion-mnist", "mnist"):
        wanted = "fashion-mnist" if name == "auto" else name
        found = _find_idx(wanted, data_dir)
        if found is not None:
            folder, arrays = found
            if wanted == "fashion-mnist":
                classes, check = FASHION_MNIST_CLASSES, "size and sha256 of the four IDX files"
            else:
                classes, check = _DIGIT_CLASSES, "IDX magic, shapes and label range"
            n_train, n_test = len(arrays["train"][1]), len(arrays["test"][1])
            info = DatasetInfo(wanted, str(folder), classes, 1, 28, n_train, n_test, check)
            return arrays, info
        if name != "auto":
            raise _not_found(name, data_dir)
    n_test = len(range(_DIGITS_TEST_EVERY - 1, _N_DIGITS, _DIGITS_TEST_EVERY))
    info = DatasetInfo(
        "digits", "embedded", _DIGIT_CLASSES, 1, 8, _N_DIGITS - n_test, n_test, "embedded"
    )
    return {}, info


INSTALL_HINTS: dict[str, str] = {
    "cifar10": "put cifar-10-binary.tar.gz (or its folder cifar-10-batches-bin) in a "
    "folder given with --data-dir (or $SMOOTHSCOPE_DATA)",
    "fashion-mnist": "apt-get install dataset-fashion-mnist, or put its four IDX files in "
    "<data dir>/fashion-mnist",
    "mnist": "put MNIST's four IDX files in <data dir>/mnist",
}
"""How to make each dataset available offline (the errors and the report's banners say it)."""


def _not_found(name: str, data_dir) -> SmoothscopeError:
    looked = [str(p) for p in search_roots(data_dir, name)]
    how = INSTALL_HINTS[name]
    return SmoothscopeError(
        f"dataset: expected {name} files under {', '.join(looked) or 'no folder'} (searched: "
        f"--data-dir, ${ENV_VAR}, the Debian folder, {cache_dir()}), found none; {how}"
    )


def resolve_dataset(
    name: str = "auto", data_dir: str | os.PathLike[str] | None = None
) -> DatasetInfo:
    """Find and validate a dataset without loading it into float images.

    Args:
        name: ``"auto"`` (CIFAR-10 when present, else Fashion-MNIST, else the digits),
            ``"cifar10"``, ``"fashion-mnist"``, ``"mnist"`` or ``"digits"``.
        data_dir: a folder searched first (see the module docstring for the order).

    Returns:
        the :class:`DatasetInfo` of the dataset found.

    Raises:
        SmoothscopeError: an unknown name; a ``data_dir`` that is not a folder; a named dataset
            found nowhere; a corrupt, truncated or incomplete set of files; the CIFAR-10 pickle
            version.
    """
    return _arrays(name, data_dir)[1]


# --------------------------------------------------------------------------------------------
# float images
# --------------------------------------------------------------------------------------------


def _check_classes(classes: object, info: DatasetInfo) -> list[int] | None:
    if classes is None:
        return None
    items = [classes] if isinstance(classes, (int, str, np.integer)) else classes
    try:
        items = list(items)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SmoothscopeError(
            f"classes: expected class indices or names, got {classes!r}"
        ) from exc
    out = []
    for c in items:
        if isinstance(c, str) and c in info.classes:
            out.append(info.classes.index(c))
        elif (
            isinstance(c, (int, np.integer))
            and not isinstance(c, bool)
            and 0 <= c < len(info.classes)
        ):
            out.append(int(c))
        else:
            raise SmoothscopeError(
                f"classes: expected indices 0..{len(info.classes) - 1} or names of "
                f"{info.name} ({', '.join(info.classes)}), got {c!r}"
            )
    if not out:
        raise SmoothscopeError("classes: expected at least one class, got none")
    return sorted(set(out))


def _check_int(value: object, name: str, *, minimum: int, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SmoothscopeError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _digits_split(split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _digits.sklearn_digits_dataset(size=size)
    if split == "all":
        return images, labels
    test = torch.arange(images.shape[0]) % _DIGITS_TEST_EVERY == _DIGITS_TEST_EVERY - 1
    keep = test if split == "test" else ~test
    return images[keep], labels[keep]


def _select(labels: np.ndarray, classes: list[int] | None, n: int | None, seed: int) -> np.ndarray:
    """Indices kept: the images of ``classes``, then ``n`` of them drawn without replacement
    with ``numpy.random.default_rng(seed)`` (in file order). The draw is a prefix of one
    permutation, so a larger ``n`` keeps every image of a smaller one."""
    index = np.arange(labels.shape[0])
    if classes is not None:
        index = index[np.isin(labels, classes)]
    if n is not None and n < index.shape[0]:
        pick = np.random.default_rng(seed).permutation(index.shape[0])[:n]
        index = index[np.sort(pick)]
    return index


def _layout(x: torch.Tensor, *, size: int | None, channels: int | None, pad: bool) -> torch.Tensor:
    """Change channels (grey repeated; RGB to BT.601 luma) and side (centred zero padding for
    the MNIST-like sets when growing, else antialiased bilinear resampling)."""
    c = x.shape[1]
    if channels is not None and channels != c:
        if c == 1:
            x = x.expand(-1, channels, -1, -1)
        elif channels == 1:
            weights = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * weights).sum(1, keepdim=True)
        else:
            raise SmoothscopeError(
                f"channels: expected 1 or {c} for images of {c} channels, got {channels}"
            )
    side = x.shape[-1]
    if size is not None and size != side:
        if pad and size > side:
            before = (size - side) // 2
            after = size - side - before
            x = F.pad(x, (before, after, before, after))
        else:
            x = F.interpolate(
                x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < side
            )
    return x.clamp(0.0, 1.0).contiguous()


def _images(
    name: str,
    *,
    split: str,
    size: int | None,
    channels: int | None,
    n: int | None,
    classes: object,
    data_dir,
    seed: int,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, DatasetInfo]:
    if split not in _SPLITS:
        raise SmoothscopeError(f"split: expected one of {', '.join(_SPLITS)}, got {split!r}")
    size = _check_int(size, "size", minimum=1, allow_none=True)
    channels = _check_int(channels, "channels", minimum=1, allow_none=True)
    n = _check_int(n, "n", minimum=1, allow_none=True)
    seed = _check_int(seed, "seed", minimum=0, allow_none=False)
    arrays, info = _arrays(name, data_dir)
    wanted = _check_classes(classes, info)
    if info.name == "digits":
        images, labels = _digits_split(split, size or 28)
        index = _select(labels.numpy(), wanted, n, seed)
        x = _layout(images[index].to(dtype), size=None, channels=channels, pad=True)
        return x, labels[index].clone(), info
    parts = ["train", "test"] if split == "all" else [split]
    raw_images = np.concatenate([arrays[s][0] for s in parts])
    raw_labels = np.concatenate([arrays[s][1] for s in parts])
    index = _select(raw_labels, wanted, n, seed)
    x = torch.from_numpy(raw_images[index]).to(dtype) / 255.0
    y = torch.from_numpy(raw_labels[index].astype(np.int64))
    x = _layout(x, size=size, channels=channels, pad=info.name != "cifar10")
    return x, y, info


def load_images(
    name: str = "auto",
    *,
    split: str = "train",
    size: int | None = 32,
    channels: int | None = None,
    n: int | None = None,
    classes: object = None,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, DatasetInfo]:
    """Images and labels of a dataset found by :func:`resolve_dataset`.

    Args:
        name: ``"auto"``, ``"cifar10"``, ``"fashion-mnist"``, ``"mnist"`` or ``"digits"``.
        split: ``"train"``, ``"test"`` or ``"all"`` (train then test). The digits have no
            split of their own: image ``i`` of scikit-learn's 1797 is a test image when
            ``i % 5 == 4`` (359 test, 1438 train).
        size: output side in pixels; None keeps the native side (32 for CIFAR-10, 28 for the
            IDX sets and the digits, which are laid out as in
            :func:`smoothscope.data.digits.load_sklearn_digits`). The 28-pixel sets are
            zero-padded, centred, to a larger side (28 → 32 adds 2 pixels each side) and
            resampled (bilinear, antialiased) to a smaller one; CIFAR-10 is always resampled.
        channels: None keeps the native channels; a grey image is repeated to any number, an
            RGB one becomes grey (``channels=1``) by BT.601 luma ``0.299 R + 0.587 G + 0.114 B``.
        n: keep at most ``n`` images, drawn without replacement with ``seed`` and returned in
            file order; None keeps them all. Fewer are returned when fewer are available.
        classes: None (all), a class index or name, or a list of them; labels keep their
            dataset values.
        data_dir: a folder searched first.
        seed: seed of the subset draw (used only when ``n`` is smaller than what is available).

    Returns:
        ``(images, labels, info)``: float32 ``[N, C, H, W]`` in [0, 1], int64 ``[N]`` and the
        :class:`DatasetInfo`.
    """
    return _images(
        name,
        split=split,
        size=size,
        channels=channels,
        n=n,
        classes=classes,
        data_dir=data_dir,
        seed=seed,
        dtype=torch.float32,
    )


def rotation_templates(
    name: str = "auto",
    *,
    class_index: int | str,
    n: int | None = None,
    size: int | None = 28,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, DatasetInfo]:
    """Grey templates of one class for paper A's rotation protocol (Appendix A).

    Paper A rotates the training images of one MNIST class (the 6265 sevens);
    :func:`smoothscope.data.digits.rotation_dataset` and
    :func:`~smoothscope.data.digits.noise_ramp_videos` take these templates as they take
    :func:`~smoothscope.data.digits.load_digit_templates`'s.

    Args:
        name: the dataset (see :func:`load_images`); CIFAR-10 images are turned grey.
        class_index: the class, as an index or a name (e.g. ``7`` or ``"Sneaker"`` for
            Fashion-MNIST, 6000 training images per class).
        n: at most this many templates, drawn with ``seed``; None keeps all of the class.
        size: template side (28, paper A's, by default).
        data_dir: a folder searched first.
        seed: seed of the subset draw.

    Returns:
        ``(templates, info)``: float64 ``[N, 1, size, size]`` in [0, 1] (the training split)
        and the :class:`DatasetInfo`.
    """
    if class_index is None or isinstance(class_index, (list, tuple, set)):
        raise SmoothscopeError(f"class_index: expected one class, got {class_index!r}")
    x, _, info = _images(
        name,
        split="train",
        size=size,
        channels=1,
        n=n,
        classes=class_index,
        data_dir=data_dir,
        seed=seed,
        dtype=torch.float64,
    )
    return x, info
