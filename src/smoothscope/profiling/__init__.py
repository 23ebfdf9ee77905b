"""``smoothscope profile``: all four papers' lenses on a user's own model, in one page.

``profile(model, inputs)`` measures, layer by layer, nonsmoothness along smooth input videos
(paper A), D/G/R (paper B), weight-path spectra and h (paper C) and, for fully convolutional
models, the output's jumps as the resolution grows (paper D); ``compare_profiles`` puts two
profiles (or two groups of profiles, one per initialisation) side by side with the differences,
their intervals and Holm's verdicts.
"""

from .compare import Comparison, compare_profiles
from .core import LENSES, Profile, ProfileSettings, profile
from .files import load_profile, write_profile_dir
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
