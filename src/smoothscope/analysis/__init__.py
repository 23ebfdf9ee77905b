"""The papers' quantities computed from recordings (SMP maps, channel models, ...)."""

from . import blueshift as blueshift
from . import chebyshev as chebyshev
from . import paths as paths
from . import propagation as propagation
from . import spectra as spectra
from .channels import PAPER_MAXPOOL_THRESHOLD as PAPER_MAXPOOL_THRESHOLD
from .channels import BernoulliGaussianChannel as BernoulliGaussianChannel
from .channels import EmpiricalChannel as EmpiricalChannel
from .channels import LinearChannel as LinearChannel
from .channels import MaxPoolChannel as MaxPoolChannel
from .channels import ThresholdSearch as ThresholdSearch
from .channels import distribution_distance as distribution_distance
from .channels import r_squared as r_squared
from .chebyshev import coefficient_decay as coefficient_decay
from .filters import filter_projections as filter_projections
from .filters import frequency_content as frequency_content
from .filters import grid_laplacian as grid_laplacian
from .filters import grid_laplacian_modes as grid_laplacian_modes
from .filters import normalized_projections as normalized_projections
from .nonsmoothness import VideoNonsmoothness as VideoNonsmoothness
from .nonsmoothness import reconstruct_videos as reconstruct_videos
from .nonsmoothness import video_nonsmoothness as video_nonsmoothness
from .paths import PathRecording as PathRecording
from .paths import freeze_batchnorm_stats as freeze_batchnorm_stats
from .paths import weight_path as weight_path
from .spectra import PathSpectrum as PathSpectrum
from .spectra import PowerLaw as PowerLaw
from .spectra import estimate_h as estimate_h
from .spectra import fit_power_law as fit_power_law
from .spectra import median_h_path as median_h_path
from .spectra import path_spectrum as path_spectrum
from .stability import StabilityResult as StabilityResult
from .stability import relative_stability as relative_stability

__all__ = [
    "PAPER_MAXPOOL_THRESHOLD",
    "BernoulliGaussianChannel",
    "EmpiricalChannel",
    "LinearChannel",
    "MaxPoolChannel",
    "PathRecording",
    "PathSpectrum",
    "PowerLaw",
    "StabilityResult",
    "ThresholdSearch",
    "VideoNonsmoothness",
    "blueshift",
    "chebyshev",
    "coefficient_decay",
    "distribution_distance",
    "estimate_h",
    "filter_projections",
    "fit_power_law",
    "freeze_batchnorm_stats",
    "frequency_content",
    "grid_laplacian",
    "grid_laplacian_modes",
    "median_h_path",
    "normalized_projections",
    "path_spectrum",
    "paths",
    "propagation",
    "r_squared",
    "reconstruct_videos",
    "relative_stability",
    "spectra",
    "video_nonsmoothness",
    "weight_path",
]
