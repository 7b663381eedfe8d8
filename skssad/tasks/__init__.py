"""Pretext transforms as batched tensor functions."""

from .color import (
    hsv_to_rgb,
    lab_to_rgb,
    partial_colorization,
    rgb_to_hsv,
    rgb_to_lab,
    tint_rotation,
)
from .contrastive import ContrastiveTask, RotationTask, contrastive_view, rotation_shifted
from .frames import (
    all_permutations,
    extract_segments,
    permutation_views,
    segment_indices,
    segment_span,
    shuffle_frames,
    unshuffle_frames,
)
from .geometric import GeometricTask, all_geometric_views, geometric_transform, rotate90, translate
from .patches import PatchTiler
from .puzzle import cut_pieces, piece_wise_puzzle, shuffle_pieces
from .puzzle_scoring import PuzzleTintScorer
from .reconstruction import ReconstructionTask

__all__ = ["hsv_to_rgb", "lab_to_rgb", "partial_colorization", "rgb_to_hsv", "rgb_to_lab",
           "tint_rotation", "cut_pieces", "piece_wise_puzzle", "shuffle_pieces",
           "GeometricTask", "all_geometric_views", "geometric_transform", "rotate90", "translate",
           "all_permutations", "extract_segments", "permutation_views", "segment_indices",
           "segment_span", "shuffle_frames", "unshuffle_frames",
           "ContrastiveTask", "RotationTask", "contrastive_view", "rotation_shifted", "PatchTiler",
           "PuzzleTintScorer", "ReconstructionTask"]
