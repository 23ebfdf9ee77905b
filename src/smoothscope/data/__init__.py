"""Data defined by the papers (smooth videos, diffeomorphisms, tasks) and the real datasets
(Fashion-MNIST, MNIST, CIFAR-10 binary; scikit-learn's digits embedded)."""

from . import cifar as cifar
from . import continuum as continuum
from . import diffeo as diffeo
from . import digits as digits
from . import ellipsoid as ellipsoid
from . import idx as idx
from . import images as images
from . import real as real
from . import scale_detection as scale_detection

__all__ = [
    "cifar",
    "continuum",
    "diffeo",
    "digits",
    "ellipsoid",
    "idx",
    "images",
    "real",
    "scale_detection",
]
