"""Model zoo, registry and model transformations."""

from . import autoencoder as _autoencoder  # noqa: F401  (registers the builders)
from . import resnet_cifar as _resnet_cifar  # noqa: F401
from . import resolution as _resolution  # noqa: F401
from . import simple_cnn as _simple_cnn  # noqa: F401
from . import toycnn as _toycnn  # noqa: F401
from . import zoo as _zoo  # noqa: F401
from ._registry import available_models as available_models
from ._registry import build as build
from ._registry import register as register
from .autoencoder import SETUPS as SETUPS
from .autoencoder import ConvAutoencoder as ConvAutoencoder
from .resnet_cifar import CifarResNet as CifarResNet
from .resolution import ContinuousConv2d as ContinuousConv2d
from .resolution import DeepImagePrior as DeepImagePrior
from .resolution import ResolutionUNet as ResolutionUNet
from .resolution import at_scale as at_scale
from .resolution import l2_penalty as l2_penalty
from .resolution import set_scale as set_scale
from .toycnn import ToyCNN as ToyCNN
from .toycnn import make_activation as make_activation
from .transforms import channel_mean_view as channel_mean_view
from .transforms import mean_channel as mean_channel
from .transforms import shuffle_channels as shuffle_channels
from .zoo import relative_depths as relative_depths

__all__ = [
    "SETUPS",
    "CifarResNet",
    "ContinuousConv2d",
    "ConvAutoencoder",
    "DeepImagePrior",
    "ResolutionUNet",
    "ToyCNN",
    "at_scale",
    "available_models",
    "build",
    "channel_mean_view",
    "l2_penalty",
    "make_activation",
    "mean_channel",
    "register",
    "relative_depths",
    "set_scale",
    "shuffle_channels",
]
