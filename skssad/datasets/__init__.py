"""Dataset loaders for real formats and embedded, generated data."""

from ._cifar import load_cifar
from ._color_patches import make_color_patches
from ._embedded import load_digits_images
from ._folder import load_image_folder, load_mvtec
from ._idx import load_mnist, read_idx
from ._textures import DEFECT_KINDS, TEXTURES, make_texture_defects
from ._video import MOVING_DIGIT_MOTIONS, load_video_folder, make_moving_digits

__all__ = [
    "make_color_patches",
    "load_digits_images",
    "load_mnist",
    "read_idx",
    "load_cifar",
    "load_image_folder",
    "load_mvtec",
    "MOVING_DIGIT_MOTIONS",
    "load_video_folder",
    "make_moving_digits",
    "DEFECT_KINDS",
    "TEXTURES",
    "make_texture_defects",
]
