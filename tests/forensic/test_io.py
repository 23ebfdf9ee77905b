"""Reading videos: arrays, numbered PNG folders, video files through PyAV; one error each."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch
from PIL import Image

from smoothscope import SmoothscopeError
from smoothscope.forensic.features import MIN_FRAMES
from smoothscope.forensic.io import MAX_FRAME_PIXELS, VIDEO_EXTRA_HINT, open_video


def frames(t=12, h=8, w=8):
    rng = np.random.default_rng(0)
    return rng.random((t, h, w))


def read(path) -> torch.Tensor:
    return torch.cat(list(open_video(path).chunks()))


def test_npy_and_npz_layouts(tmp_path):
    video = frames()
    np.save(tmp_path / "a.npy", video)
    np.save(tmp_path / "b.npy", video[:, None].repeat(3, 1))
    np.savez(tmp_path / "c.npz", video=video)
    assert torch.equal(read(tmp_path / "a.npy"), torch.from_numpy(video)[:, None])
    assert read(tmp_path / "b.npy").shape == (12, 3, 8, 8)
    assert torch.equal(read(tmp_path / "c.npz"), torch.from_numpy(video)[:, None])


def test_png_folder_is_read_in_numeric_order(tmp_path):
    video = (frames() * 255).round().astype(np.uint8)
    for t in range(12):
        Image.fromarray(video[t]).save(tmp_path / f"frame{t}.png")  # frame10 after frame9
    got = read(tmp_path)
    np.testing.assert_array_equal(got[:, 0].numpy(), video.astype(np.float64))


def test_video_file_through_pyav(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "v.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for t in range(10):
            grey = np.full((16, 16, 3), 20 * t, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    video = read(path)
    assert video.shape == (10, 1, 16, 16)
    means = video.mean(dim=(1, 2, 3)).numpy()
    assert np.all(np.diff(means) > 0)  # the ramp of grey levels survives the codec


def test_missing_video_extra_names_it(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("no av")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 10)
    with pytest.raises(SmoothscopeError, match=r"video.*extra") as info:
        open_video(tmp_path / "v.mp4")
    assert VIDEO_EXTRA_HINT in str(info.value)


def test_bad_inputs_raise_one_error_each(tmp_path):
    np.save(tmp_path / "short.npy", frames(t=2))
    np.save(tmp_path / "flat.npy", frames()[0])
    np.save(tmp_path / "text.npy", np.array(["a", "b", "c"]))
    nan = frames()
    nan[4, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "0.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(folder / "1.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "2.png")
    cases = {
        "short.npy": f"at least {MIN_FRAMES} frames",
        "flat.npy": r"\[T, H, W\]",
        "text.npy": "numeric",
        "junk.mp4": "could not decode",
        "mixed": "equal size",
        "nowhere.npy": "existing",
    }
    for name, message in cases.items():
        with pytest.raises(SmoothscopeError, match=message):
            read(tmp_path / name)
    with pytest.raises(SmoothscopeError, match="finite"):
        read(tmp_path / "nan.npy")


def test_integer_sources_report_their_bits(tmp_path):
    np.save(tmp_path / "u8.npy", (frames() * 255).astype(np.uint8))
    np.save(tmp_path / "f.npy", frames())
    assert open_video(tmp_path / "u8.npy").bits == 8
    assert open_video(tmp_path / "f.npy").bits is None


def hostile_npz(path, shape=(2**40, 2**15), member="video.npy"):
    """An .npz of a few bytes whose array header claims ``shape`` float64 (71 PiB by default)."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, header.getvalue() + b"\0" * 64)


def test_hostile_array_headers_are_refused_before_reading(tmp_path):
    hostile_npz(tmp_path / "huge.npz")
    with pytest.raises(SmoothscopeError, match="PiB") as info:
        open_video(tmp_path / "huge.npz")
    assert "\n" not in str(info.value)
    # a .npy whose header claims more than the file holds
    with open(tmp_path / "huge.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (2**40, 8, 8)}
        )
        fh.write(b"\0" * 64)
    with pytest.raises(SmoothscopeError, match="header claims"):
        open_video(tmp_path / "huge.npy")


@pytest.mark.parametrize("side", [20000, 9000])
def test_a_png_claiming_a_huge_frame_is_refused_before_decoding(tmp_path, side):
    """A PNG header claiming side × side pixels (the IDAT holds almost nothing): 20000² is a
    decompression bomb for Pillow, 9000² (81 M) passes Pillow's check but not ours."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(MIN_FRAMES):
        (folder / f"{t}.png").write_bytes(png)
    with pytest.raises(SmoothscopeError, match=f"{MAX_FRAME_PIXELS:,} pixels") as info:
        open_video(folder)
    assert "\n" not in str(info.value)
