"""Pretext transforms as batched tensor functions."""

from .color import (
    hsv_to_rgb,
    lab_to_rgb,
    partial_colorization,
    rgb_to_hsv,
    rgb_to_lab,
    tint_rotation,
)
from .geometric import GeometricTask, all_geometric_views, geometric_transform, rotate90, translate
from .puzzle import cut_pieces, piece_wise_puzzle, shuffle_pieces

__all__ = ["hsv_to_rgb", "lab_to_rgb", "partial_colorization", "rgb_to_hsv", "rgb_to_lab",
           "tint_rotation", "cut_pieces", "piece_wise_puzzle", "shuffle_pieces",
           "GeometricTask", "all_geometric_views", "geometric_transform", "rotate90", "translate"]
from .frames import (  # noqa: E402
    all_permutations,
    extract_segments,
    permutation_views,
    segment_indices,
    segment_span,
    shuffle_frames,
    unshuffle_frames,
)

__all__ += ["all_permutations", "extract_segments", "permutation_views", "segment_indices",
            "segment_span", "shuffle_frames", "unshuffle_frames"]
from .contrastive import ContrastiveTask, contrastive_view  # noqa: E402

__all__ += ["ContrastiveTask", "contrastive_view"]
