"""Real datasets: search order, verification, the IDX and CIFAR-10 binary parsers, layouts.

The parsers are tested on small files written here (the record counts of the real sets are
patched down); the Debian Fashion-MNIST package is used when installed, else those tests skip.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from smoothscope._errors import SmoothscopeError
from smoothscope.cli import _load_inputs, main
from smoothscope.data import cifar, idx, real
from smoothscope.data.real import (
    DatasetInfo,
    load_images,
    resolve_dataset,
    rotation_templates,
    search_roots,
)

N_TRAIN, N_TEST, PER_FILE = 20, 10, 4
DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return np.array([magic, *array.shape], dtype=">u4").tobytes() + array.tobytes()


def _idx_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        out[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        out[f"{prefix}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    return out


def _write_idx(folder: Path, seed: int, *, gz: bool = True) -> dict[str, bytes]:
    """The four IDX files of a small MNIST-like set; returns their (gunzipped) bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = {}
    for base, array in _idx_arrays(seed).items():
        data = _idx_bytes(array, 0x803 if array.ndim == 3 else 0x801)
        raw[base] = data
        if gz:
            (folder / f"{base}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / base).write_bytes(data)
    return raw


def _cifar_records(seed: int, n: int) -> bytes:
    rng = np.random.default_rng(seed)
    records = rng.integers(0, 256, (n, cifar.RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = np.arange(n) % 10
    return records.tobytes()


def _write_cifar(folder: Path, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(cifar.CIFAR10_FILES["train"] + cifar.CIFAR10_FILES["test"]):
        (folder / name).write_bytes(_cifar_records(seed + i, PER_FILE))


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """Small sets: the Fashion-MNIST hashes of seed 1's files, no Debian folder, no cache, no
    $SMOOTHSCOPE_DATA; returns a writer ``(folder, seed=1) -> raw bytes``."""
    raw = _write_idx(tmp_path / "reference", 1)
    hashes = {b: (len(d), hashlib.sha256(d).hexdigest()) for b, d in raw.items()}
    monkeypatch.setattr(idx, "FASHION_MNIST_SHA256", hashes)
    monkeypatch.setattr(idx, "IDX_COUNTS", {"train": N_TRAIN, "test": N_TEST})
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", PER_FILE)
    monkeypatch.setattr(real, "DEBIAN_DIRS", {"fashion-mnist": tmp_path / "no-debian"})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    monkeypatch.delenv(real.ENV_VAR, raising=False)
    return lambda folder, seed=1, gz=True: _write_idx(folder, seed, gz=gz)


# --------------------------------------------------------------------------------------------
# search order and "auto"
# --------------------------------------------------------------------------------------------


def test_search_order_data_dir_env_debian_cache(tmp_path, fake_fashion, monkeypatch):
    folders = {k: tmp_path / k for k in ("arg", "env", "debian", "cache")}
    fake_fashion(folders["arg"] / "fashion-mnist")
    fake_fashion(folders["env"] / "fashion-mnist")
    fake_fashion(folders["debian"])
    fake_fashion(folders["cache"] / "smoothscope" / "fashion-mnist")
    monkeypatch.setattr(real, "DEBIAN_DIRS", {"fashion-mnist": folders["debian"]})
    monkeypatch.setenv("XDG_CACHE_HOME", str(folders["cache"]))
    monkeypatch.setenv(real.ENV_VAR, str(folders["env"]))
    assert resolve_dataset("fashion-mnist", folders["arg"]).source == str(
        folders["arg"] / "fashion-mnist"
    )
    assert resolve_dataset("fashion-mnist").source == str(folders["env"] / "fashion-mnist")
    monkeypatch.delenv(real.ENV_VAR)
    assert resolve_dataset("fashion-mnist").source == str(folders["debian"])
    monkeypatch.setattr(real, "DEBIAN_DIRS", {"fashion-mnist": tmp_path / "gone"})
    info = resolve_dataset("auto")
    assert info.source == str(folders["cache"] / "smoothscope" / "fashion-mnist")
    assert (info.name, info.n_train, info.n_test, info.channels) == ("fashion-mnist", 20, 10, 1)
    assert search_roots(folders["arg"]) == [folders["arg"], folders["cache"] / "smoothscope"]


def test_auto_prefers_cifar_then_fashion_then_digits(tmp_path, fake_fashion, monkeypatch):
    assert resolve_dataset("auto") == resolve_dataset("digits")
    assert resolve_dataset("auto").describe() == "digits (embedded)"
    fake_fashion(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv(real.ENV_VAR, str(tmp_path / "env"))
    assert resolve_dataset("auto").name == "fashion-mnist"
    _write_cifar(tmp_path / "mine" / "cifar-10-batches-bin")
    info = resolve_dataset("auto", data_dir=tmp_path / "mine")
    assert (info.name, info.channels, info.n_train, info.n_test) == ("cifar10", 3, 20, 4)
    assert info.classes[0] == "airplane" and info.to_dict()["classes"][9] == "truck"


def test_root_of_mnist_files_is_mnist_not_fashion(tmp_path, fake_fashion, monkeypatch):
    fake_fashion(tmp_path / "idx", seed=2, gz=False)  # other content than the "Fashion" hashes
    monkeypatch.setenv(real.ENV_VAR, str(tmp_path / "idx"))
    info = resolve_dataset("mnist")
    assert (info.name, info.source, info.classes[7]) == ("mnist", str(tmp_path / "idx"), "7")
    with pytest.raises(SmoothscopeError, match="expected fashion-mnist files"):
        resolve_dataset("fashion-mnist")
    assert resolve_dataset("auto").name == "digits"  # auto never picks MNIST


def test_named_folder_with_other_content_fails_the_hash(tmp_path, fake_fashion):
    fake_fashion(tmp_path / "fashion-mnist", seed=2)
    for where in (tmp_path, tmp_path / "fashion-mnist"):  # the parent, or the folder itself
        with pytest.raises(SmoothscopeError, match="sha256"):
            resolve_dataset("auto", where)


def test_bad_names_and_folders(tmp_path, fake_fashion, monkeypatch):
    with pytest.raises(SmoothscopeError, match="dataset: expected one of auto"):
        resolve_dataset("imagenet")
    with pytest.raises(SmoothscopeError, match="data_dir: expected an existing folder"):
        resolve_dataset("digits", tmp_path / "nope")
    monkeypatch.setenv(real.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(SmoothscopeError, match="SMOOTHSCOPE_DATA: expected an existing"):
        resolve_dataset("auto")
    monkeypatch.delenv(real.ENV_VAR)
    for name, hint in (
        ("cifar10", "cifar-10-binary"),
        ("mnist", "mnist"),
        ("fashion-mnist", "apt"),
    ):
        with pytest.raises(SmoothscopeError, match=hint):
            resolve_dataset(name, tmp_path)


# --------------------------------------------------------------------------------------------
# bad files: one clear error each
# --------------------------------------------------------------------------------------------


def test_idx_truncated_corrupt_magic_missing(tmp_path, fake_fashion):
    folder = tmp_path / "mnist"
    raw = fake_fashion(folder, seed=3)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(raw["train-images-idx3-ubyte"][:-5]))
    with pytest.raises(SmoothscopeError, match="truncated"):
        resolve_dataset("mnist", tmp_path)
    images.write_bytes(gzip.compress(raw["train-images-idx3-ubyte"])[:-20])
    with pytest.raises(SmoothscopeError, match="corrupt or truncated"):
        resolve_dataset("mnist", tmp_path)
    wrong = bytearray(raw["train-images-idx3-ubyte"])
    wrong[3] = 0x01
    images.write_bytes(gzip.compress(bytes(wrong)))
    with pytest.raises(SmoothscopeError, match="IDX magic 0x00000803"):
        resolve_dataset("mnist", tmp_path)
    images.unlink()
    with pytest.raises(SmoothscopeError, match="train-images-idx3-ubyte"):
        resolve_dataset("mnist", tmp_path)


def test_idx_labels_out_of_range(tmp_path, fake_fashion):
    folder = tmp_path / "mnist"
    fake_fashion(folder, seed=3)
    labels = np.full(N_TEST, 12, dtype=np.uint8)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels, 0x801)))
    with pytest.raises(SmoothscopeError, match=r"labels in 0..9"):
        resolve_dataset("mnist", tmp_path)


def test_cifar_bad_files(tmp_path, fake_fashion):
    folder = tmp_path / "cifar-10-batches-bin"
    _write_cifar(folder)
    batch = folder / "data_batch_3.bin"
    batch.write_bytes(_cifar_records(0, PER_FILE)[:-1])
    with pytest.raises(SmoothscopeError, match="truncated"):
        resolve_dataset("cifar10", tmp_path)
    bad = bytearray(_cifar_records(0, PER_FILE))
    bad[cifar.RECORD_BYTES] = 10  # the label byte of the second record
    batch.write_bytes(bytes(bad))
    with pytest.raises(SmoothscopeError, match=r"labels 0..9"):
        resolve_dataset("cifar10", tmp_path)
    batch.write_bytes(pickle.dumps({"data": [1, 2, 3]}, protocol=2))
    with pytest.raises(SmoothscopeError, match=r"pickle.*cifar-10-binary.tar.gz"):
        resolve_dataset("cifar10", tmp_path)
    batch.unlink()
    with pytest.raises(SmoothscopeError, match=r"data_batch_3.bin"):
        resolve_dataset("auto", tmp_path)


@pytest.mark.parametrize("layout", ["folder", "files", "archive"])
def test_cifar_pickle_version_is_refused(tmp_path, fake_fashion, layout):
    if layout == "folder":
        (tmp_path / "cifar-10-batches-py").mkdir()
        (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x02}q\x00.")
    elif layout == "files":
        for name in ("data_batch_1", "test_batch", "batches.meta"):
            (tmp_path / name).write_bytes(b"\x80\x02}q\x00.")
    else:
        (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b")
    for name in ("auto", "cifar10"):
        with pytest.raises(SmoothscopeError, match=r"pickle.*binary version, cifar-10-binary"):
            resolve_dataset(name, tmp_path)


def test_cifar_archive_read_without_extracting(tmp_path, fake_fashion, monkeypatch):
    _write_cifar(tmp_path / "build" / "cifar-10-batches-bin")
    archive = tmp_path / "data" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    raw = archive.read_bytes()
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    monkeypatch.setattr(cifar, "ARCHIVE", ("cifar-10-binary.tar.gz", len(raw), md5))
    x, y, info = load_images("cifar10", split="test", data_dir=tmp_path / "data")
    ref, yref, _ = load_images("cifar10", split="test", data_dir=tmp_path / "build")
    assert info.source == str(archive) and "MD5" in info.check
    assert torch.equal(x, ref) and torch.equal(y, yref)
    assert not (tmp_path / "data" / "cifar-10-batches-bin").exists()  # nothing extracted
    archive.write_bytes(raw[:-10])
    with pytest.raises(SmoothscopeError, match="truncated, corrupt or another archive"):
        resolve_dataset("cifar10", tmp_path / "data")


# --------------------------------------------------------------------------------------------
# images: values, layouts, subsets
# --------------------------------------------------------------------------------------------


def test_fashion_images_are_the_file_bytes_padded(tmp_path, fake_fashion):
    fake_fashion(tmp_path / "fashion-mnist", gz=False)
    expected = _idx_arrays(1)
    x, y, info = load_images("fashion-mnist", split="test", data_dir=tmp_path)
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (N_TEST, 1, 32, 32)
    ref = torch.from_numpy(expected["t10k-images-idx3-ubyte"].astype(np.float32)) / 255
    torch.testing.assert_close(x[:, 0, 2:30, 2:30], ref, rtol=0, atol=0)
    assert x[..., :2, :].abs().max() == 0 and x[..., :, 30:].abs().max() == 0
    assert y.tolist() == (np.arange(N_TEST) % 10).tolist()
    native, _, _ = load_images("fashion-mnist", split="train", size=None, data_dir=tmp_path)
    assert native.shape == (N_TRAIN, 1, 28, 28)
    both, _, _ = load_images("fashion-mnist", split="all", size=28, data_dir=tmp_path)
    torch.testing.assert_close(both[N_TRAIN:, 0], ref)
    grey3, _, _ = load_images("fashion-mnist", split="test", channels=3, data_dir=tmp_path)
    assert grey3.shape == (N_TEST, 3, 32, 32) and bool((grey3 == x).all())
    small, _, _ = load_images("fashion-mnist", split="test", size=14, data_dir=tmp_path)
    assert small.shape == (N_TEST, 1, 14, 14) and 0 <= small.min() and small.max() <= 1
    # an antialiased 2× reduction of a constant image stays constant
    torch.testing.assert_close(small.mean(), ref.mean(), atol=0.02, rtol=0)
    assert info.check.startswith("size and sha256")


def test_cifar_images_and_luma(tmp_path, fake_fashion):
    _write_cifar(tmp_path)
    x, y, info = load_images("cifar10", split="test", data_dir=tmp_path)
    records = np.frombuffer(_cifar_records(5, PER_FILE), np.uint8).reshape(PER_FILE, -1)
    ref = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)) / 255
    assert info.name == "cifar10" and info.source == str(tmp_path)
    torch.testing.assert_close(x, ref, rtol=0, atol=0)
    assert y.tolist() == records[:, 0].tolist()
    grey, _, _ = load_images("cifar10", split="test", channels=1, data_dir=tmp_path)
    luma = 0.299 * ref[:, 0] + 0.587 * ref[:, 1] + 0.114 * ref[:, 2]
    torch.testing.assert_close(grey[:, 0], luma)
    train, labels, _ = load_images("cifar10", split="train", data_dir=tmp_path)
    assert train.shape == (5 * PER_FILE, 3, 32, 32) and labels.shape == (5 * PER_FILE,)
    with pytest.raises(SmoothscopeError, match="channels: expected 1 or 3"):
        load_images("cifar10", split="test", channels=2, data_dir=tmp_path)


def test_subsets_are_seeded_nested_and_class_filtered(tmp_path, fake_fashion):
    fake_fashion(tmp_path / "fashion-mnist")
    kw = {"split": "train", "data_dir": tmp_path}
    a, ya, _ = load_images("fashion-mnist", n=5, seed=3, **kw)
    b, yb, _ = load_images("fashion-mnist", n=5, seed=3, **kw)
    c, _, _ = load_images("fashion-mnist", n=12, seed=3, **kw)
    d, _, _ = load_images("fashion-mnist", n=5, seed=4, **kw)
    assert torch.equal(a, b) and torch.equal(ya, yb) and not torch.equal(a, d)
    assert all(any(torch.equal(img, other) for other in c) for img in a)
    e, ye, _ = load_images("fashion-mnist", classes=["Sneaker", 2], **kw)
    assert set(ye.tolist()) == {2, 7} and e.shape[0] == 4
    f, _, _ = load_images("fashion-mnist", n=10**6, **kw)
    assert f.shape[0] == N_TRAIN
    with pytest.raises(SmoothscopeError, match=r"classes: expected indices 0..9"):
        load_images("fashion-mnist", classes=[10], **kw)
    with pytest.raises(SmoothscopeError, match="split: expected one of"):
        load_images("fashion-mnist", split="val", data_dir=tmp_path)
    with pytest.raises(SmoothscopeError, match="n: expected an integer"):
        load_images("fashion-mnist", n=0, **kw)


def test_digits_fallback_split(fake_fashion):
    train, ytrain, info = load_images("digits", split="train", size=32, channels=3)
    test, ytest, _ = load_images("digits", split="test", size=32)
    assert (info.name, info.source, info.n_train, info.n_test) == ("digits", "embedded", 1438, 359)
    assert train.shape == (1438, 3, 32, 32) and test.shape == (359, 1, 32, 32)
    assert train.dtype == torch.float32 and 0 <= train.min() and train.max() <= 1
    assert set(ytest.tolist()) == set(range(10)) and len(ytrain) + len(ytest) == 1797
    sevens, y7, _ = load_images("digits", split="all", classes=7)
    assert sevens.shape == (179, 1, 32, 32) and set(y7.tolist()) == {7}


def test_rotation_templates(tmp_path, fake_fashion):
    fake_fashion(tmp_path / "fashion-mnist")
    templates, info = rotation_templates(class_index="Sneaker", data_dir=tmp_path)
    assert templates.dtype == torch.float64 and templates.shape == (2, 1, 28, 28)
    ref = _idx_arrays(1)["train-images-idx3-ubyte"][[7, 17]] / 255.0
    torch.testing.assert_close(templates[:, 0], torch.from_numpy(ref), rtol=0, atol=0)
    assert isinstance(info, DatasetInfo) and info.name == "fashion-mnist"
    digits, _ = rotation_templates("digits", class_index=7, n=10, seed=1)
    assert digits.shape == (10, 1, 28, 28)
    with pytest.raises(SmoothscopeError, match="class_index: expected one class"):
        rotation_templates("digits", class_index=[1, 2])


# --------------------------------------------------------------------------------------------
# the CLI's --data-dir
# --------------------------------------------------------------------------------------------


def test_cli_data_dir_is_validated_before_anything_is_written(tmp_path, fake_fashion, capsys):
    out = tmp_path / "run"
    code = main(["reproduce", "--data-dir", str(tmp_path / "nope"), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "--data-dir: expected an existing folder" in capsys.readouterr().err


def test_cli_inputs_from_a_dataset(tmp_path, fake_fashion, monkeypatch):
    _write_cifar(tmp_path / "cifar10")
    x = _load_inputs("cifar10", 3, 16, 1, str(tmp_path))
    assert x.shape == (3, 1, 16, 16) and x.dtype == torch.float32
    monkeypatch.setenv(real.ENV_VAR, str(tmp_path))  # what --data-dir does for the cells
    assert _load_inputs("auto", 2, 32, 3).shape == (2, 3, 32, 32)
    assert os.environ[real.ENV_VAR] == str(tmp_path)


# --------------------------------------------------------------------------------------------
# the Debian package (CI installs it; skipped without it)
# --------------------------------------------------------------------------------------------

needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)


@needs_debian
def test_debian_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.delenv(real.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    info = resolve_dataset()
    assert (info.name, info.source, info.n_train, info.n_test) == (
        "fashion-mnist",
        str(DEBIAN),
        60000,
        10000,
    )
    x, y, _ = load_images(split="test", size=28)
    assert x.shape == (10000, 1, 28, 28) and 0 <= x.min() and x.max() == 1
    # Fashion-MNIST's test split has exactly 1000 images of each of the 10 classes
    assert torch.bincount(y).tolist() == [1000] * 10
    templates, _ = rotation_templates(class_index="Sneaker", n=100, seed=0)
    assert templates.shape == (100, 1, 28, 28)
