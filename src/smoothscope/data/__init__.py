"""Data defined by the papers: smooth videos (ellipsoid, digit noise ramps), diffeomorphisms."""

from . import continuum as continuum
from . import diffeo as diffeo
from . import digits as digits
from . import ellipsoid as ellipsoid
from . import images as images
from . import scale_detection as scale_detection

__all__ = ["continuum", "diffeo", "digits", "ellipsoid", "images", "scale_detection"]
