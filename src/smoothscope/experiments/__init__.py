"""Experiments: one module per group of paper figures, registered by name."""

from . import blueshift as _blueshift  # noqa: F401  (registers the experiments)
from . import forensic as _forensic  # noqa: F401
from . import nonsmoothness as _nonsmoothness  # noqa: F401
from . import propagation as _propagation  # noqa: F401
from . import regularity as _regularity  # noqa: F401
from . import scale_detection as _scale_detection  # noqa: F401
from . import stability as _stability  # noqa: F401
from ._base import SCALES as SCALES
from ._base import ExperimentConfig as ExperimentConfig
from ._base import ExperimentSpec as ExperimentSpec
from ._base import Figure as Figure
from ._base import available_experiments as available_experiments
from ._base import get_experiment as get_experiment
from ._base import register_experiment as register_experiment
from ._base import run_experiment as run_experiment

__all__ = [
    "SCALES",
    "ExperimentConfig",
    "ExperimentSpec",
    "Figure",
    "available_experiments",
    "get_experiment",
    "register_experiment",
    "run_experiment",
]
