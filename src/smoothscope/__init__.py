"""smoothscope: measure, model and exploit the smoothness of neural networks.

The public API::

    import smoothscope as ss
    d2 = ss.second_difference(video, dim=0)          # paper A, eq. 2
    ss.ave_nonsmooth(video), ss.smp(d2)              # eq. 4, §V-B
    model = ss.build("autoencoder", setup="relu_maxpool")
    ss.run_experiment("nonsmoothness", scale="quick")
"""

from ._version import __version__ as __version__

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

__all__ = [
    "Claim",
    "NonsmoothnessMaps",
    "SmoothscopeError",
    "VideoNonsmoothness",
    "__version__",
    "available_experiments",
    "available_models",
    "ave_nonsmooth",
    "build",
    "compare_profiles",
    "detect_kinks",
    "fit",
    "nonsmoothness_maps",
    "peak_mask",
    "profile",
    "reconstruct_videos",
    "run_experiment",
    "second_difference",
    "second_difference_at",
    "smp",
    "video_nonsmoothness",
]
