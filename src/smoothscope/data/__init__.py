"""Data defined by the papers: smooth videos (ellipsoid, digit noise ramps)."""

from . import digits as digits
from . import ellipsoid as ellipsoid

__all__ = ["digits", "ellipsoid"]
