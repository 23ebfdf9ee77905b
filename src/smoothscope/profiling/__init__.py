"""``smoothscope profile``: all four papers' lenses on a user's own model, in one page.

``profile(model, inputs)`` measures, layer by layer, nonsmoothness along smooth input videos
(paper A), D/G/R (paper B), weight-path spectra and h (paper C) and, for fully convolutional
models, the output's jumps as the resolution grows (paper D); ``compare_profiles`` puts two
profiles side by side with the differences and their intervals.
"""

from .core import (
    LENSES,
    Comparison,
    Profile,
    ProfileSettings,
    compare_profiles,
    load_profile,
    profile,
    write_profile_dir,
)
from .trajectories import fourier_rotate, fourier_shift, smooth_trajectories

__all__ = [
    "LENSES",
    "Comparison",
    "Profile",
    "ProfileSettings",
    "compare_profiles",
    "fourier_rotate",
    "fourier_shift",
    "load_profile",
    "profile",
    "smooth_trajectories",
    "write_profile_dir",
]
