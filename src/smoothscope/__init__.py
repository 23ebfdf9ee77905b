"""smoothscope: measure, model and exploit the smoothness of neural networks.

The public API::

    import smoothscope as ss
    d2 = ss.second_difference(video, dim=0)          # paper A, eq. 2
    ss.ave_nonsmooth(video), ss.smp(d2)              # eq. 4, §V-B
    model = ss.build("autoencoder", setup="relu_maxpool")
    ss.run_experiment("nonsmoothness", scale="quick")

The names are imported on first use (``import smoothscope`` is light: the command line's
``--help`` does not wait for torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:  # what the lazy names resolve to (read by type checkers and the import graph)
    from ._errors import SmoothscopeError as SmoothscopeError
    from .analysis import VideoNonsmoothness as VideoNonsmoothness
    from .analysis import reconstruct_videos as reconstruct_videos
    from .analysis import video_nonsmoothness as video_nonsmoothness
    from .experiments import available_experiments as available_experiments
    from .experiments import run_experiment as run_experiment
    from .models import available_models as available_models
    from .models import build as build
    from .profiling import compare_profiles as compare_profiles
    from .profiling import profile as profile
    from .results import Claim as Claim
    from .signals import NonsmoothnessMaps as NonsmoothnessMaps
    from .signals import ave_nonsmooth as ave_nonsmooth
    from .signals import detect_kinks as detect_kinks
    from .signals import nonsmoothness_maps as nonsmoothness_maps
    from .signals import peak_mask as peak_mask
    from .signals import second_difference as second_difference
    from .signals import second_difference_at as second_difference_at
    from .signals import smp as smp
    from .train import fit as fit

_LAZY = {
    "SmoothscopeError": "._errors",
    "VideoNonsmoothness": ".analysis",
    "reconstruct_videos": ".analysis",
    "video_nonsmoothness": ".analysis",
    "available_experiments": ".experiments",
    "run_experiment": ".experiments",
    "available_models": ".models",
    "build": ".models",
    "compare_profiles": ".profiling",
    "profile": ".profiling",
    "Claim": ".results",
    "NonsmoothnessMaps": ".signals",
    "ave_nonsmooth": ".signals",
    "detect_kinks": ".signals",
    "nonsmoothness_maps": ".signals",
    "peak_mask": ".signals",
    "second_difference": ".signals",
    "second_difference_at": ".signals",
    "smp": ".signals",
    "fit": ".train",
}

__all__ = sorted(["__version__", *_LAZY])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
