"""Blueshift (paper C): one namespace for :mod:`.chebyshev`, :mod:`.paths`, :mod:`.spectra` and
:mod:`.spectral_shape`.

Paper C ("Ringing ReLUs: harmonic distortion analysis of nonlinear feedforward networks",
ICLR 2021) walks along straight lines in weight space (:mod:`.paths`, eq. 1), looks at the
Fourier spectra of the recorded paths and their fractal coefficient ``h`` (:mod:`.spectra`,
eq. 3) and what the paper reads off their average (:mod:`.spectral_shape`: h, mean frequency,
high-band share, the branch correlation of Fig. 6), and explains the blueshift by the Chebyshev
coefficients of the activations (:mod:`.chebyshev`, §3.3). This module re-exports them so that
``from smoothscope.analysis import blueshift as B`` reaches all of them.
"""

from __future__ import annotations

from .chebyshev import ACTIVATIONS as ACTIVATIONS
from .chebyshev import PROJECTION_NODES as PROJECTION_NODES
from .chebyshev import Activation as Activation
from .chebyshev import ChebyshevDecay as ChebyshevDecay
from .chebyshev import chebyshev_coefficients as chebyshev_coefficients
from .chebyshev import coefficient_decay as coefficient_decay
from .chebyshev import get_activation as get_activation
from .paths import LOSS as LOSS
from .paths import MIN_POINTS as MIN_POINTS
from .paths import OUTPUT as OUTPUT
from .paths import PathRecording as PathRecording
from .paths import freeze_batchnorm_stats as freeze_batchnorm_stats
from .paths import weight_path as weight_path
from .spectra import HEstimate as HEstimate
from .spectra import MedianPath as MedianPath
from .spectra import PathSpectrum as PathSpectrum
from .spectra import PowerLaw as PowerLaw
from .spectra import estimate_h as estimate_h
from .spectra import fit_power_law as fit_power_law
from .spectra import median_h_path as median_h_path
from .spectra import path_spectrum as path_spectrum
from .spectral_shape import band_correlation as band_correlation
from .spectral_shape import band_share as band_share
from .spectral_shape import direction_spectra as direction_spectra
from .spectral_shape import mean_frequency as mean_frequency
from .spectral_shape import spectrum_h as spectrum_h

__all__ = [
    "ACTIVATIONS",
    "LOSS",
    "MIN_POINTS",
    "OUTPUT",
    "PROJECTION_NODES",
    "Activation",
    "ChebyshevDecay",
    "HEstimate",
    "MedianPath",
    "PathRecording",
    "PathSpectrum",
    "PowerLaw",
    "band_correlation",
    "band_share",
    "chebyshev_coefficients",
    "coefficient_decay",
    "direction_spectra",
    "estimate_h",
    "fit_power_law",
    "freeze_batchnorm_stats",
    "get_activation",
    "mean_frequency",
    "median_h_path",
    "path_spectrum",
    "spectrum_h",
    "weight_path",
]
