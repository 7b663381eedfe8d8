"""Torch modules used by the detectors."""

from .anomem import MultiScaleMemoryNet, RotationNet, ScaleDistanceHeads
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
from .hopfield import HopfieldMemory, hopfield_retrieve
from .resnet import ResNet
from .siamese import CaffeNetBase, SiameseFrameNet, SmallFrameCNN
from .unet import UNet
from .wide_resnet import Standardize, WideResNet

__all__ = [
    "MultiHeadNet",
    "UNet",
    "Standardize",
    "WideResNet",
    "Critic",
    "DistillationStudent",
    "FeatureTeacher",
    "IGDNet",
    "PreActBlock",
    "ResDecoder",
    "ResEncoder",
    "CaffeNetBase",
    "SiameseFrameNet",
    "SmallFrameCNN",
    "HopfieldMemory",
    "hopfield_retrieve",
    "ResNet",
    "MultiScaleMemoryNet",
    "RotationNet",
    "ScaleDistanceHeads",
]
