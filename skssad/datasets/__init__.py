"""Dataset loaders for real formats and embedded, generated data."""

from ._color_patches import make_color_patches
from ._embedded import load_digits_images
from ._idx import load_mnist, read_idx

__all__ = ["make_color_patches", "load_digits_images", "load_mnist", "read_idx"]
from ._cifar import load_cifar  # noqa: E402
from ._folder import load_image_folder, load_mvtec  # noqa: E402

__all__ += ["load_cifar", "load_image_folder", "load_mvtec"]
from ._video import MOVING_DIGIT_MOTIONS, load_video_folder, make_moving_digits  # noqa: E402

__all__ += ["MOVING_DIGIT_MOTIONS", "load_video_folder", "make_moving_digits"]
from ._textures import DEFECT_KINDS, TEXTURES, make_texture_defects  # noqa: E402

__all__ += ["DEFECT_KINDS", "TEXTURES", "make_texture_defects"]
