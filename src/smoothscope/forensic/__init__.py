"""Detect that a video went through a neural network, from its nonsmoothness (paper A, Fig. 7).

* :mod:`.videos`: authentic smooth videos, smooth non-network processing, perturbations;
* :mod:`.processors`: the network families that process them;
* :mod:`.pipelines`: storage pipelines (8-bit, H.264, MPEG-4, JPEG, resizing, noise);
* :mod:`.features`: :func:`video_features`, the one streamed feature extractor (kink
  statistics against a noise floor: :mod:`._kinks`);
* :mod:`.baseline`: the DCT-spectrum baseline (Frank et al. 2020);
* :mod:`.detector`: fit, calibrated threshold, out-of-distribution notes, JSON storage that
  never runs code;
* :mod:`.evaluation`: ROC-AUC, TPR at a fixed FPR, cluster bootstrap;
* :mod:`.io`: reading ``.npy``/``.npz``, PNG folders and video files (PyAV, extra ``video``).

The experiment is ``smoothscope run forensic``; the commands ``smoothscope forensic fit`` and
``smoothscope forensic score`` (docs/forensic.md).
"""

from .baseline import dct_features as dct_features
from .detector import Detector as Detector
from .detector import fit_detector as fit_detector
from .detector import load_detector as load_detector
from .features import FEATURE_NAMES as FEATURE_NAMES
from .features import VideoFeatures as VideoFeatures
from .features import video_features as video_features
from .io import open_video as open_video
from .pipelines import PIPELINE_KINDS as PIPELINE_KINDS
from .pipelines import apply_pipeline as apply_pipeline

__all__ = [
    "FEATURE_NAMES",
    "PIPELINE_KINDS",
    "Detector",
    "VideoFeatures",
    "apply_pipeline",
    "dct_features",
    "fit_detector",
    "load_detector",
    "open_video",
    "video_features",
]
