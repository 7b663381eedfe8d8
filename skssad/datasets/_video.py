"""Videos: moving real digits (generated) and class-per-folder video trees."""

from __future__ import annotations

import os
from numbers import Integral
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
                       random_state=None,
                       return_X_y: bool = False) -> Bunch | tuple[np.ndarray, np.ndarray]:
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
    return_X_y : bool, default=False
        Return ``(videos, target)`` instead of a Bunch, as scikit-learn's
        loaders do.

    Returns
    -------
    data : Bunch
        ``videos`` uint8 ndarray ``(n_samples, n_frames, size, size)``,
        ``target`` int64 ``(n_samples,)`` (motion class index into
        :data:`MOVING_DIGIT_MOTIONS`), ``target_names`` (the motion names),
        ``DESCR``; the same keys as :func:`load_video_folder` returns.
    (videos, target) : tuple of ndarray
        When ``return_X_y=True``.

    Examples
    --------
    >>> from skssad.datasets import make_moving_digits
    >>> d = make_moving_digits(20, n_frames=6, size=16, random_state=0)
    >>> d.videos.shape, d.target.shape
    ((20, 6, 16, 16), (20,))
    >>> d.target_names[:2].tolist()
    ['left_to_right', 'right_to_left']
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
    X = X.reshape(n_samples, n_frames, size, size)
    if return_X_y:
        return X, y
    return Bunch(videos=X, target=y, target_names=np.asarray(MOVING_DIGIT_MOTIONS),
                 DESCR=f"{n_samples} moving real digits, {n_frames} frames of {size}x{size}, "
                       f"motions {sorted(set(y.tolist()))}")


_VIDEO_EXT = {".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".tif", ".tiff"}
_TIFF_EXT = {".tif", ".tiff"}
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}


def _check_frame(frame: np.ndarray, first: np.ndarray | None, where: str,
                 first_where: str) -> np.ndarray:
    """One frame ``(H, W)`` or ``(H, W, C)``, the same shape as the video's first frame."""
    frame = np.asarray(frame)
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and not 1 <= frame.shape[-1] <= 4):
        raise ValueError(f"{where} decodes to an array of shape {frame.shape}; expected one "
                         "frame (H, W) or (H, W, C) with 1 to 4 channels.")
    if first is not None and frame.shape != first.shape:
        raise ValueError(f"{where} has shape {frame.shape} but {first_where} has "
                         f"{first.shape}: all frames of one video must have the same size "
                         "and channels.")
    return frame


def _tiff_frames(path: Path) -> list[np.ndarray]:
    """The frames of a TIFF, using tifffile's axes so that ``(H, W, 3)`` stays one frame.

    imageio's ``imread(index=None)`` returns a single RGB page as ``(H, W, 3)``
    (which reads as H frames of W x 3 pixels) and only the first series of a
    file written page by page; tifffile labels every series' axes (``Y``,
    ``X``, samples ``S``), so every other axis is a frame axis.
    """
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - tifffile ships with scikit-image
        raise ValueError(f"Reading the TIFF video {path} needs the 'tifffile' package.") from exc
    try:
        with tifffile.TiffFile(path) as tif:
            series = [(s.asarray(), s.axes) for s in tif.series]
    except Exception as exc:  # tifffile raises TiffFileError, struct, zlib and shape errors
        raise ValueError(f"Could not decode TIFF video {path}: {exc}") from exc
    frames: list[np.ndarray] = []
    for arr, axes in series:
        if "Y" not in axes or "X" not in axes:
            raise ValueError(f"TIFF video {path} holds a series with axes {axes!r}; expected "
                             "image axes Y and X.")
        chan = "S" if "S" in axes else ("C" if "C" in axes else None)
        image = [axes.index("Y"), axes.index("X")] + ([axes.index(chan)] if chan else [])
        rest = [k for k in range(arr.ndim) if k not in image]
        arr = np.transpose(arr, rest + image)
        frames.extend(arr.reshape(-1, *arr.shape[len(rest):]))
    return frames


def _read_video_file(path: Path, max_frames: int | None) -> np.ndarray:
    if path.suffix.lower() in _TIFF_EXT:
        decoded = _tiff_frames(path)[:max_frames]
    else:
        import imageio.v3 as iio

        decoded = []
        try:
            # One frame at a time, so max_frames stops the decoder early.
            for frame in iio.imiter(path):
                decoded.append(frame)
                if max_frames is not None and len(decoded) >= max_frames:
                    break
        except Exception as exc:  # the plugin that decodes mp4/avi (PyAV/ffmpeg) may be missing
            raise ValueError(f"Could not decode video {path}: {exc}. GIF and TIFF stacks are "
                             "read with Pillow/tifffile; mp4/avi/mov need the 'av' or "
                             "'imageio-ffmpeg' package.") from exc
    if not decoded:
        raise ValueError(f"Video {path} holds no frames.")
    first = _check_frame(decoded[0], None, f"Frame 0 of {path}", "")
    for t, frame in enumerate(decoded[1:], 1):
        _check_frame(frame, first, f"Frame {t} of {path}", "frame 0")
    return np.stack(decoded)


def _read_frame_folder(path: Path, max_frames: int | None) -> np.ndarray:
    import imageio.v3 as iio

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_EXT)
    if not files:
        raise ValueError(f"Frame folder {path} holds no images ({sorted(_IMAGE_EXT)}).")
    frames: list[np.ndarray] = []
    for f in files[:max_frames]:
        try:
            decoded = iio.imread(f)
        except Exception as exc:  # Pillow raises OSError/SyntaxError on truncated files
            raise ValueError(f"Could not decode frame image {f}: {exc}") from exc
        frames.append(_check_frame(decoded, frames[0] if frames else None, f"Frame image {f}",
                                   str(files[0].name)))
    return np.stack(frames)


def _gray(v: np.ndarray, as_gray: bool) -> np.ndarray:
    if v.ndim == 4 and v.shape[-1] in (1, 2):  # gray or gray + alpha: keep the gray plane
        v = v[..., 0]
    if v.ndim == 4 and v.shape[-1] == 4:  # RGBA: drop alpha
        v = v[..., :3]
    if as_gray and v.ndim == 4:
        v = np.round(v.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(v.dtype)
    return v


def load_video_folder(path: str | os.PathLike, *, as_gray: bool = False,
                      max_frames: int | None = None) -> Bunch:
    """Read a class-per-folder tree of videos: ``path/<class>/<video>``.

    A video is a video file (GIF through imageio's Pillow plugin; TIFF
    through tifffile, by its axes, so one RGB page is one RGB frame and
    every page or plane of a stack is a frame; mp4/avi/mov/mkv/webm when
    PyAV or imageio-ffmpeg is installed) or a folder of frame images, read
    in sorted file-name order. All frames of one video must have one size.

    Parameters
    ----------
    path : str or path-like
        Root directory; each sub-directory is a class.
    as_gray : bool, default=False
        Convert colour frames to grayscale (ITU-R 601 luma).
    max_frames : int >= 1 or None, default=None
        Keep only the first ``max_frames`` frames of each video (frames past
        it are not decoded where the format allows).

    Returns
    -------
    data : Bunch
        ``videos`` list of arrays ``(T, H, W)`` or ``(T, H, W, 3)`` in the
        files' dtype (uint8 for 8-bit files; alpha is dropped) (different
        lengths and sizes allowed, the layout
        :class:`~skssad.FramePermutationDetector` accepts), ``target`` int
        ``(n,)``, ``target_names``, ``filenames``.

    Raises
    ------
    ValueError
        For a bad ``max_frames``, a file that cannot be decoded (named), or
        a video whose frames differ in size (the path and both shapes named).
    """
    if max_frames is not None and (isinstance(max_frames, bool | np.bool_)
                                   or not isinstance(max_frames, Integral) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, got {max_frames!r}.")
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
                v = _read_frame_folder(item, max_frames)
            elif item.suffix.lower() in _VIDEO_EXT:
                v = _read_video_file(item, max_frames)
            else:
                continue
            v = _gray(v, as_gray)
            videos.append(v)
            target.append(label)
            names.append(str(item))
    if not videos:
        raise ValueError(f"No videos found under {root} (video files {sorted(_VIDEO_EXT)} "
                         "or folders of frame images).")
    return Bunch(videos=videos, target=np.asarray(target, dtype=np.int64),
                 target_names=np.asarray(classes), filenames=np.asarray(names))
