"""The shared estimator base of every skssad detector.

:class:`BaseDetector` holds the conventions of DESIGN.md once: parameter
validation, the image views of ``X`` and their fit-time scaling, dropping
known anomalies for one-class training, ``offset_`` from ``contamination``,
``score_samples`` / ``decision_function`` / ``predict``, device choice,
per-fit seeding that leaves the caller's RNG alone, batch-independent chunked
inference and device-safe pickling. A detector implements two hooks:

``_fit_tensor(self, X, y)``
    Train on ``X``, a float32 ``(n, C, H, W)`` tensor on ``self.device_``
    (``y`` is ``None`` unless the detector sets ``_uses_known_anomalies``,
    in which case it is an int array with ``-1`` for known anomalies).
``_score_chunk(self, X)``
    Score a fixed-size chunk ``(b, C, H, W)`` (padded by the base); return
    a ``(b,)`` tensor, higher = more normal. Called under ``no_grad`` with
    the networks in eval mode; all views of a sample in one forward pass.

Video detectors override ``_as_tensor`` as well.
"""

from __future__ import annotations

import contextlib
import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .training import build_pretext_net

__all__ = ["BaseDetector", "resolve_device", "images_to_nchw", "resize_images",
           "padded_chunks"]

#: Samples per padded inference chunk. Every chunk has exactly this many
#: samples, so a sample's score is bit-identical whatever else is scored
#: with it (CPU kernels change their summation order with the batch size).
INFERENCE_CHUNK = 32


def padded_chunks(X: torch.Tensor, size: int = INFERENCE_CHUNK):
    """Yield ``(chunk, b)``: ``X`` cut into chunks of exactly ``size`` rows.

    The last chunk is zero-padded to ``size``; ``b`` is its number of real
    rows. Fixed-size chunks keep every result bit-identical whatever else
    is scored with it (DESIGN.md, batch independence).
    """
    for start in range(0, len(X), size):
        chunk = X[start:start + size]
        b = len(chunk)
        if b < size:
            chunk = torch.cat([chunk, chunk.new_zeros((size - b, *chunk.shape[1:]))])
        yield chunk, b


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; "
                         "use device='auto' or 'cpu'.")
    return str(device)


def _next_square(n_features: int) -> int:
    return int(math.ceil(math.sqrt(n_features)))


def images_to_nchw(X: np.ndarray, image_shape=None) -> np.ndarray:
    """Read ``X`` as images and return ``(n, C, H, W)``.

    2-D ``X`` is flattened images: reshaped with ``image_shape`` (``(H, W)``
    or ``(H, W, C)``), or inferred as a square grayscale image
    (``n_features = s*s``), a square RGB image (``s*s*3``), else zero-padded
    to the next square grayscale image. 3-D is ``(n, H, W)`` grayscale, 4-D
    ``(n, H, W, C)`` channels-last.
    """
    n = X.shape[0]
    if X.ndim == 2:
        f = X.shape[1]
        if image_shape is not None:
            shape = tuple(int(s) for s in image_shape)
            if len(shape) not in (2, 3) or int(np.prod(shape)) != f:
                raise ValueError(
                    f"image_shape={tuple(image_shape)} does not match X with {f} features "
                    f"per sample; expected (H, W) or (H, W, C) with H*W*C == {f}.")
            X = X.reshape((n, *shape))
        else:
            s = math.isqrt(f)
            s3 = math.isqrt(f // 3) if f % 3 == 0 else 0
            if s * s == f:
                X = X.reshape(n, s, s)
            elif s3 > 0 and s3 * s3 * 3 == f:
                X = X.reshape(n, s3, s3, 3)
            else:
                s = _next_square(f)
                padded = np.zeros((n, s * s), dtype=X.dtype)
                padded[:, :f] = X
                X = padded.reshape(n, s, s)
    elif X.ndim in (3, 4) and image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if X.shape[1:] != shape and X.shape[1:3] != shape[:2]:
            raise ValueError(f"image_shape={shape} does not match X of shape {X.shape}.")
    if X.ndim == 3:
        X = X[:, :, :, None]
    if X.ndim != 4:
        raise ValueError(
            f"Expected images as 2-D (n, n_features), 3-D (n, H, W) or 4-D "
            f"(n, H, W, C) channels-last arrays; got {X.ndim}-D input of shape {X.shape}.")
    if X.shape[3] > 4:
        raise ValueError(
            f"Expected channels-last images (n, H, W, C) with C <= 4; got shape "
            f"{X.shape}. Channels-first input (n, C, H, W) must be transposed "
            "with X.transpose(0, 2, 3, 1).")
    return np.ascontiguousarray(X.transpose(0, 3, 1, 2))


def resize_images(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize ``(n, C, H, W)`` to ``size x size`` (bilinear, antialiased when shrinking)."""
    if size is None or x.shape[-2:] == (size, size):
        return x
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink)


class BaseDetector(OutlierMixin, BaseEstimator):
    """Base class for skssad's self-supervised anomaly detectors.

    Not for direct use: subclasses define ``__init__`` with their parameters
    and implement ``_fit_tensor`` and ``_score_chunk``.
    """

    _parameter_constraints: dict = {
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "image_shape": [tuple, list, None],
        "input_size": [Interval(Integral, 4, None, closed="left"), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"sgd", "adam"}), type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "verbose": ["verbose"],
        "device": [str],
        "random_state": ["random_state"],
    }

    #: Semi-supervised detectors train on known anomalies (``y == -1``) too.
    _uses_known_anomalies = False
    #: Fewest samples ``fit`` accepts.
    _min_samples = 2

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, reset: bool):
        return validate_data(self, X, reset=reset, allow_nd=True, dtype="numeric",
                             ensure_min_samples=self._min_samples if reset else 1)

    def _as_tensor(self, X, *, reset: bool) -> torch.Tensor:
        """Validate ``X`` and return the scaled, resized ``(n, C, H, W)`` tensor.

        uint8 is divided by 255; other input is min-max scaled by the range
        seen in ``fit`` (no clipping at inference).
        """
        X = self._validate_X(X, reset)
        if X.ndim > 4:
            raise ValueError(f"Expected image input of at most 4 dimensions, got shape "
                             f"{X.shape}; videos go to FramePermutationDetector.")
        if X.ndim == 1:
            raise ValueError("Expected 2-D array, got 1-D array instead.")
        images = images_to_nchw(X, self.image_shape)
        if reset:
            self.input_shape_ = tuple(images.shape[1:])
            if X.dtype == np.uint8:
                self.scale_ = (0.0, 255.0)
            else:
                lo, hi = float(images.min()), float(images.max())
                self.scale_ = (lo, hi if hi > lo else lo + 1.0)
        elif tuple(images.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X holds images of shape (C, H, W)={tuple(images.shape[1:])}, but "
                f"{type(self).__name__} was fitted on {self.input_shape_}.")
        lo, hi = self.scale_
        images = (images.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
        t = torch.from_numpy(images).to(self.device_)
        return resize_images(t, self.input_size)

    def _fit_labels(self, y, n: int) -> np.ndarray | None:
        if y is None:
            return None
        y = np.asarray(y)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} entries but X has {n} samples.")
        return np.where(y == -1, -1, 1).astype(np.int64)

    # ------------------------------------------------------------------ seeding
    @contextlib.contextmanager
    def _seeded(self, seed: int):
        """Seed torch inside a forked RNG, so the caller's RNG state is untouched."""
        devices = [torch.cuda.current_device()] if self.device_.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    # ------------------------------------------------------------------ sklearn API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the detector on (mostly) normal samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images as 2-D flattened rows, 3-D ``(n, H, W)`` or 4-D
            ``(n, H, W, C)``.
        y : array-like of shape (n_samples,), default=None
            Optional labels: ``-1`` marks known anomalies, every other value
            is normal. One-class detectors drop the known anomalies.

        Returns
        -------
        self : object
            The fitted detector.
        """
        return self._fit(X, y)

    def _fit(self, X, y=None):
        self.device_ = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        self._seed = int(rng.randint(np.iinfo(np.int32).max))
        X_all = self._as_tensor(X, reset=True)
        labels = self._fit_labels(y, len(X_all))
        X_train, y_train = X_all, labels
        if labels is not None and not self._uses_known_anomalies:
            keep = labels != -1
            if keep.sum() < self._min_samples:
                raise ValueError(f"Only {int(keep.sum())} normal samples remain after "
                                 f"dropping y == -1; at least {self._min_samples} needed.")
            X_train, y_train = X_all[torch.from_numpy(keep).to(X_all.device)], None
        with self._seeded(self._seed):
            self._fit_tensor(X_train, y_train)
        scores = self._score_tensor(X_all)
        self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        return self

    def _score_tensor(self, X: torch.Tensor) -> np.ndarray:
        """Score ``X`` in padded chunks of exactly ``INFERENCE_CHUNK`` samples."""
        self._eval_mode()
        out = []
        with torch.no_grad():
            for chunk, b in padded_chunks(X):
                out.append(self._score_chunk(chunk)[:b].double().cpu())
        return torch.cat(out).numpy() if out else np.empty(0)

    def _eval_mode(self):
        net = getattr(self, "net_", None)
        if net is not None:
            net.module_.eval()

    def score_samples(self, X) -> np.ndarray:
        """Normality score of each sample: the higher, the more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Same layout as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self, "offset_")
        return self._score_tensor(self._as_tensor(X, reset=False))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """``+1`` for normal samples, ``-1`` for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(int)

    # ------------------------------------------------------------------ training
    def _make_net(self, module, criterion, task, **overrides):
        """The detector's skorch net, configured from the base's parameters."""
        params = dict(max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
                      optimizer=self.optimizer, weight_decay=self.weight_decay,
                      callbacks=self.callbacks, verbose=self.verbose, device=self.device_)
        params.update(overrides)
        return build_pretext_net(module, criterion, task=task, **params)

    # ------------------------------------------------------------------ persistence
    def __setstate__(self, state):
        device = state.get("device_")
        if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
            state["device_"] = "cpu"
        self.__dict__.update(state)
        net = state.get("net_")
        if net is not None and state.get("device_") == "cpu":
            net.device = "cpu"
            net.module_.to("cpu")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


#: Re-exported for detectors' constraint dictionaries.
__all__ += ["HasMethods", "Interval", "StrOptions"]
