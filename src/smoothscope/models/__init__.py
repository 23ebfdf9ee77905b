"""Model zoo, registry and model transformations."""

from . import autoencoder as _autoencoder  # noqa: F401  (registers the builders)
from . import resnet_cifar as _resnet_cifar  # noqa: F401
from . import simple_cnn as _simple_cnn  # noqa: F401
from . import toycnn as _toycnn  # noqa: F401
from . import zoo as _zoo  # noqa: F401
from ._registry import available_models as available_models
from ._registry import build as build
from ._registry import register as register
from .autoencoder import SETUPS as SETUPS
from .autoencoder import ConvAutoencoder as ConvAutoencoder
from .resnet_cifar import CifarResNet as CifarResNet
from .toycnn import ToyCNN as ToyCNN
from .toycnn import make_activation as make_activation
from .transforms import mean_channel as mean_channel
from .transforms import shuffle_channels as shuffle_channels
from .zoo import relative_depths as relative_depths

__all__ = [
    "SETUPS",
    "CifarResNet",
    "ConvAutoencoder",
    "ToyCNN",
    "available_models",
    "build",
    "make_activation",
    "mean_channel",
    "register",
    "relative_depths",
    "shuffle_channels",
]
