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
from .filters import filter_projections as filter_projections
from .filters import frequency_content as frequency_content
from .filters import grid_laplacian as grid_laplacian
from .filters import grid_laplacian_modes as grid_laplacian_modes
from .filters import normalized_projections as normalized_projections
from .nonsmoothness import VideoNonsmoothness as VideoNonsmoothness
from .nonsmoothness import reconstruct_videos as reconstruct_videos
from .nonsmoothness import video_nonsmoothness as video_nonsmoothness
from .stability import StabilityResult as StabilityResult
from .stability import relative_stability as relative_stability

__all__ = [
    "PAPER_MAXPOOL_THRESHOLD",
    "BernoulliGaussianChannel",
    "EmpiricalChannel",
    "LinearChannel",
    "MaxPoolChannel",
    "StabilityResult",
    "ThresholdSearch",
    "VideoNonsmoothness",
    "distribution_distance",
    "filter_projections",
    "frequency_content",
    "grid_laplacian",
    "grid_laplacian_modes",
    "normalized_projections",
    "propagation",
    "r_squared",
    "reconstruct_videos",
    "relative_stability",
    "video_nonsmoothness",
]
