"""Videos: moving real digits (generated) and class-per-folder video trees."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import Bunch, check_random_state

__all__ = ["MOVING_DIGIT_MOTIONS", "make_moving_digits", "load_video_folder"]

#: Motion classes of :func:`make_moving_digits`; pairs (0,1), (2,3), (4,5),
#: (6,7), (8,9) are each other's time reversal.
MOVING_DIGIT_MOTIONS = ("left_to_right", "right_to_left", "top_to_bottom", "bottom_to_top",
                        "diagonal_down", "diagonal_up", "circle_clockwise",
                        "circle_counterclockwise", "zoom_in", "zoom_out")


def _trajectories(motion: np.ndarray, n_frames: int, rng) -> tuple[np.ndarray, ...]:
    """Digit centre (x, y) in [-1, 1] canvas coordinates and scale, ``(n, T)`` each."""
    n = len(motion)
    t = np.linspace(0.0, 1.0, n_frames)[None, :]
    travel = 0.9  # total displacement of a linear motion, canvas half-widths
    x = np.zeros((n, n_frames))
    y = np.zeros((n, n_frames))
    s = np.ones((n, n_frames))
    off = rng.uniform(-0.3, 0.3, size=(n, 2))  # random start positions
    forward = (motion % 2 == 0)[:, None]
    tt = np.where(forward, t, 1.0 - t)  # odd classes replay the even ones backwards
    kind = motion // 2
    lin = (tt - 0.5) * travel
    x = np.where((kind == 0)[:, None] | (kind == 2)[:, None], lin + off[:, :1], off[:, :1] + 0 * t)
    y = np.where((kind == 1)[:, None] | (kind == 2)[:, None], lin + off[:, 1:], off[:, 1:] + 0 * t)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    ang = phase + 2 * np.pi * 0.8 * tt  # y points down: growing angle = clockwise
    circ = (kind == 3)[:, None]
    x = np.where(circ, 0.4 * np.cos(ang) + 0.3 * off[:, :1], x)
    y = np.where(circ, 0.4 * np.sin(ang) + 0.3 * off[:, 1:], y)
    zoom = (kind == 4)[:, None]
    s = np.where(zoom, 0.5 + 0.8 * tt, s)
    return x, y, s


def make_moving_digits(n_samples: int = 500, *, n_frames: int = 20, size: int = 32,
                       digit_size: int | None = None, motions=None, noise: float = 0.05,
                       random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Videos of real ``load_digits`` digits moving on a canvas, one motion class each.

    Every video shows one random real 8x8 digit (upsampled to
    ``digit_size``) moving along a trajectory of its class (see
    :data:`MOVING_DIGIT_MOTIONS`: left/right, up/down, diagonals, circles
    clockwise and counter-clockwise, zoom in/out) from a random start
    position or phase, with additive Gaussian pixel noise. Classes come in
    time-reversed pairs: a video of class ``2j + 1`` is, frame by frame,
    made of the same kind of frames as class ``2j`` played backwards, so only
    temporal order tells them apart. All frames are rendered in one batched
    ``grid_sample``.

    Parameters
    ----------
    n_samples : int, default=500
        Videos, spread evenly over the motion classes.
    n_frames : int, default=20
    size : int, default=32
        Canvas side in pixels.
    digit_size : int or None, default=None
        Digit side at scale 1; ``None`` = ``size // 2``.
    motions : sequence of int or None, default=None
        Motion class indices to generate; ``None`` = all 10.
    noise : float, default=0.05
        Standard deviation of the pixel noise (intensities in [0, 1]).
    random_state : int, RandomState or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_frames, size, size), uint8
    y : ndarray of shape (n_samples,), int64
        Motion class index into :data:`MOVING_DIGIT_MOTIONS`.
    """
    from sklearn.datasets import load_digits

    rng = check_random_state(random_state)
    motions = np.arange(len(MOVING_DIGIT_MOTIONS)) if motions is None else np.asarray(motions)
    if motions.size == 0 or motions.min() < 0 or motions.max() >= len(MOVING_DIGIT_MOTIONS):
        raise ValueError(f"motions must be indices in [0, {len(MOVING_DIGIT_MOTIONS)}); "
                         f"got {motions.tolist()}.")
    if n_samples < 1 or n_frames < 1 or size < 8:
        raise ValueError("Expected n_samples >= 1, n_frames >= 1 and size >= 8; got "
                         f"n_samples={n_samples}, n_frames={n_frames}, size={size}.")
    y = motions[np.arange(n_samples) % len(motions)].astype(np.int64)
    rng.shuffle(y)
    digits = load_digits().images / 16.0
    pick = rng.randint(len(digits), size=n_samples)
    d = torch.from_numpy(digits[pick]).float()[:, None]
    ds = int(digit_size or size // 2)
    d = F.interpolate(d, size=(ds, ds), mode="bilinear", align_corners=False)
    canvas = torch.zeros(n_samples, 1, size, size)
    lo = (size - ds) // 2
    canvas[:, :, lo:lo + ds, lo:lo + ds] = d
    x, yy, s = _trajectories(y, n_frames, rng)
    # Affine sampling grid: output point p reads input (p - centre) / scale.
    theta = torch.zeros(n_samples * n_frames, 2, 3)
    inv = torch.from_numpy(1.0 / s.ravel()).float()
    theta[:, 0, 0] = inv
    theta[:, 1, 1] = inv
    theta[:, 0, 2] = -torch.from_numpy(x.ravel()).float() * inv
    theta[:, 1, 2] = -torch.from_numpy(yy.ravel()).float() * inv
    src = canvas.repeat_interleave(n_frames, 0)
    grid = F.affine_grid(theta, src.shape, align_corners=False)
    frames = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)[:, 0].numpy()
    frames = frames + rng.normal(0.0, noise, size=frames.shape)
    X = np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)
    return X.reshape(n_samples, n_frames, size, size), y


_VIDEO_EXT = {".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".tif", ".tiff"}
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}


def _read_video_file(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    try:
        frames = iio.imread(path, index=None)
    except Exception as exc:  # the plugin that decodes mp4/avi (PyAV/ffmpeg) may be missing
        raise ValueError(f"Could not decode video {path}: {exc}. GIF and TIFF stacks are read "
                         "with Pillow/tifffile; mp4/avi/mov need the 'av' or 'imageio-ffmpeg' "
                         "package.") from exc
    return np.asarray(frames)


def _read_frame_folder(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_EXT)
    if not files:
        raise ValueError(f"Frame folder {path} holds no images ({sorted(_IMAGE_EXT)}).")
    return np.stack([np.asarray(iio.imread(p)) for p in files])


def _gray(v: np.ndarray, as_gray: bool) -> np.ndarray:
    if v.ndim == 4 and v.shape[-1] == 4:
        v = v[..., :3]
    if as_gray and v.ndim == 4:
        v = np.round(v[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114]).astype(v.dtype)
    return v


def load_video_folder(path: str | os.PathLike, *, as_gray: bool = False,
                      max_frames: int | None = None) -> Bunch:
    """Read a class-per-folder tree of videos: ``path/<class>/<video>``.

    A video is a video file (GIF and TIFF stacks through imageio's Pillow
    and tifffile plugins; mp4/avi/mov/mkv/webm when PyAV or imageio-ffmpeg
    is installed) or a folder of frame images, read in sorted file-name
    order.

    Parameters
    ----------
    path : str or path-like
        Root directory; each sub-directory is a class.
    as_gray : bool, default=False
        Convert colour frames to grayscale (ITU-R 601 luma).
    max_frames : int or None, default=None
        Keep only the first ``max_frames`` frames of each video.

    Returns
    -------
    data : Bunch
        ``videos`` list of uint8 arrays ``(T, H, W)`` or ``(T, H, W, C)``
        (different lengths allowed, the layout
        :class:`~skssad.FramePermutationDetector` accepts), ``target`` int
        ``(n,)``, ``target_names``, ``filenames``.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory; expected path/<class>/<video>.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{root} has no class sub-directories; expected path/<class>/<video>.")
    videos, target, names = [], [], []
    for label, cls in enumerate(classes):
        for item in sorted((root / cls).iterdir()):
            if item.is_dir():
                v = _read_frame_folder(item)
            elif item.suffix.lower() in _VIDEO_EXT:
                v = _read_video_file(item)
            else:
                continue
            v = _gray(v, as_gray)
            if max_frames is not None:
                v = v[:max_frames]
            videos.append(v)
            target.append(label)
            names.append(str(item))
    if not videos:
        raise ValueError(f"No videos found under {root} (video files {sorted(_VIDEO_EXT)} "
                         "or folders of frame images).")
    return Bunch(videos=videos, target=np.asarray(target, dtype=np.int64),
                 target_names=np.asarray(classes), filenames=np.asarray(names))
