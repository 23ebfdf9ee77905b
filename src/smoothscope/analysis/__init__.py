"""The papers' quantities computed from recordings (SMP maps, channel models, ...)."""

from . import propagation as propagation
from .channels import PAPER_MAXPOOL_THRESHOLD as PAPER_MAXPOOL_THRESHOLD
from .channels import BernoulliGaussianChannel as BernoulliGaussianChannel
from .channels import EmpiricalChannel as EmpiricalChannel
from .channels import LinearChannel as LinearChannel
from .channels import MaxPoolChannel as MaxPoolChannel
from .channels import ThresholdSearch as ThresholdSearch
from .channels import distribution_distance as distribution_distance
from .channels import r_squared as r_squared
from .nonsmoothness import VideoNonsmoothness as VideoNonsmoothness
from .nonsmoothness import reconstruct_videos as reconstruct_videos
from .nonsmoothness import video_nonsmoothness as video_nonsmoothness

__all__ = [
    "PAPER_MAXPOOL_THRESHOLD",
    "BernoulliGaussianChannel",
    "EmpiricalChannel",
    "LinearChannel",
    "MaxPoolChannel",
    "ThresholdSearch",
    "VideoNonsmoothness",
    "distribution_distance",
    "propagation",
    "r_squared",
    "reconstruct_videos",
    "video_nonsmoothness",
]
