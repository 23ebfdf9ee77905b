"""The ``device`` option of the API and of ``--device`` (issue 18).

``"cpu"``, ``"cuda"`` (``"cuda:1"``), ``"auto"`` (CUDA when available, else the CPU) or a
``torch.device``. Models, data and diffeomorphisms move to it; random draws stay on the CPU
generators, so the same seed draws the same numbers on every device. Bit-identical results are
promised on the CPU only: GPU kernels (cuDNN convolutions, reductions) may differ in the last
bits from run to run and from the CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from ._errors import SmoothscopeError

__all__ = ["DEVICES", "device_name", "full_float32", "resolve_device"]

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: Any) -> torch.device:
    """``"cpu" | "cuda[:k]" | "auto" | torch.device`` -> a usable ``torch.device``.

    Raises:
        SmoothscopeError: an unknown name, or CUDA requested on a machine without it.
    """
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device in ("cpu", "cuda") or device.startswith("cuda:")):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise SmoothscopeError(
                f"device: expected cpu, cuda[:k] or auto, got {device!r}"
            ) from exc
    else:
        raise SmoothscopeError(f"device: expected cpu, cuda[:k] or auto, got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SmoothscopeError(
                f"device: {device!s} requested, but this torch ({torch.__version__}) sees no CUDA "
                "device; use --device cpu (or auto)"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SmoothscopeError(
                f"device: {device!s} requested, but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
    elif dev.type != "cpu":
        raise SmoothscopeError(f"device: expected cpu, cuda[:k] or auto, got {device!r}")
    return dev


def device_name(device: torch.device) -> str:
    """A human-readable name for results: ``"cpu"`` or ``"cuda:0 (NVIDIA H200)"``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Float32 stays float32 on CUDA while inside (also a decorator): TensorFloat-32 (a 10-bit
    mantissa, cuDNN's default for convolutions) is switched off for cuDNN and cuBLAS and the
    caller's settings are restored on exit. Measured on an H200 before this guard: a float32
    weight path of a small CNN was 2.2e-4 away from the float64 truth (the per-point loop,
    whose small batches cuDNN ran without TF32, 2.7e-7). No effect on the CPU.
    """
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = conv
        torch.backends.cuda.matmul.allow_tf32 = matmul
