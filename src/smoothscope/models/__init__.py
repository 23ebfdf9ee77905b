"""Model zoo and registry."""

from . import autoencoder as _autoencoder  # noqa: F401  (registers the builders)
from ._registry import available_models as available_models
from ._registry import build as build
from ._registry import register as register
from .autoencoder import SETUPS as SETUPS
from .autoencoder import ConvAutoencoder as ConvAutoencoder

__all__ = ["SETUPS", "ConvAutoencoder", "available_models", "build", "register"]
