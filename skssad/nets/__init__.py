"""Torch modules used by the detectors."""

from .autoencoder import (
    Critic,
    DistillationStudent,
    FeatureTeacher,
    IGDNet,
    PreActBlock,
    ResDecoder,
    ResEncoder,
)
from .heads import MultiHeadNet
from .unet import UNet
from .wide_resnet import Standardize, WideResNet

__all__ = ["MultiHeadNet", "UNet", "Standardize", "WideResNet",
           "Critic", "DistillationStudent", "FeatureTeacher", "IGDNet", "PreActBlock", "ResDecoder",
           "ResEncoder"]
from .siamese import CaffeNetBase, SiameseFrameNet, SmallFrameCNN  # noqa: E402

__all__ += ["CaffeNetBase", "SiameseFrameNet", "SmallFrameCNN"]
from .hopfield import HopfieldMemory, hopfield_retrieve  # noqa: E402
from .resnet import ResNet  # noqa: E402

__all__ += ["HopfieldMemory", "hopfield_retrieve", "ResNet"]
from .anomem import MultiScaleMemoryNet, ScaleDistanceHeads, UniformRetrievalWarning  # noqa: E402

__all__ += ["MultiScaleMemoryNet", "ScaleDistanceHeads", "UniformRetrievalWarning"]
