"""``smoothscope._device``: device names, and float32 kept float32 (no TF32) in the analyses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope._device import full_float32, resolve_device
from smoothscope._errors import SmoothscopeError
from smoothscope.analysis.paths import OUTPUT, weight_path
from smoothscope.analysis.stability import relative_stability

SEEN: list[tuple[bool, bool]] = []
"""TF32 flags seen by every forward pass of a :class:`_Spy` (its copies included)."""


class _Spy(nn.Module):
    """A tiny CNN that records whether TF32 was allowed during each forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        SEEN.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return self.conv(x).relu()


def test_full_float32_switches_tf32_off_inside_and_restores_the_callers_settings():
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    with full_float32():
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


@pytest.mark.parametrize("analysis", ["stability", "weight_path"])
def test_the_analyses_run_without_tf32(analysis):
    torch.manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.rand(4, 1, 12, 12), 3, stride=1)
    SEEN.clear()
    if analysis == "stability":
        relative_stability(_Spy(), x, batch_size=2)
    else:
        weight_path(_Spy(), x, direction="random", points=5, record=[OUTPUT])
    assert SEEN and not any(a or b for a, b in SEEN)


def test_resolve_device_names_and_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(SmoothscopeError, match="expected cpu, cuda"):
        resolve_device("gpu0")
