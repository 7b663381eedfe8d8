"""The shared estimator base of every skssad detector.

:class:`BaseDetector` holds the conventions of DESIGN.md once: parameter
validation, the image views of ``X`` and their fit-time scaling, dropping
known anomalies for one-class training, ``offset_`` from ``contamination``,
``score_samples`` / ``decision_function`` / ``predict``, device choice,
per-fit seeding that leaves the caller's RNG alone, the registry of fitted
skorch nets (``nets_``), the one chunked inference path (:meth:`_map_chunks`),
training health and device-safe pickling. A detector implements:

``_fit_tensor(self, X, y)``
    Train on ``X``, the raw training store on ``self.device_`` (uint8 stays
    uint8, floats are scaled in float64 and kept float32) at the input
    resolution: the nets' loaders convert it a batch at a time with
    :meth:`_prepare`, and whole-set passes go through :meth:`_map_chunks`,
    so no float copy of the training set is ever made. ``y`` is ``None`` unless
    the detector sets ``_uses_known_anomalies`` (an int array, ``-1`` for
    known anomalies). Nets are built with :meth:`_make_net`.
``_calibrate(self, X)`` (optional)
    Fit statistics after training (Mahalanobis, SVDD centres, prototypes)
    on the training store, through :meth:`_map_chunks`.
``_score_chunk(self, X)``
    Score a fixed-size prepared chunk ``(b, C, H, W)`` (padded by the
    base); return a ``(b,)`` tensor, higher = more normal. Called under
    ``no_grad`` with every registered net in eval mode.

Video detectors override ``_input_store`` and ``_score_store`` as well.

Signs: every ``score_*`` output is higher for normal data; every
``anomaly_*`` output (maps, segment scores) is higher for anomalies.
"""

from __future__ import annotations

import contextlib
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._layouts import images_to_nchw
from .training import autocast_context, build_pretext_net

__all__ = ["BaseDetector", "PretextAtChanceWarning", "ImagePrep", "resolve_device",
           "images_to_nchw", "resize_images", "scale_to_unit"]


class PretextAtChanceWarning(UserWarning):
    """A pretext task ended training at, above, or within 5 % below its chance-level loss.

    The network learned nothing the scores can rely on; ``training_health_``
    holds the loss curve and the chance level.
    """

#: Samples per padded inference chunk. Every chunk has exactly this many
#: samples, so a sample's score is bit-identical whatever else is scored
#: with it (CPU kernels change their summation order with the batch size).
INFERENCE_CHUNK = 32
#: Training images that post-training statistics (Mahalanobis, robust scales, memory
#: prototypes) are fitted on: a seeded subsample beyond this many, so that
#: calibration memory stays a constant whatever the size of the training set.
CALIBRATION_IMAGES = 1024


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; "
                         "use device='auto' or 'cpu'.")
    return str(device)


def _full_precision(x: torch.Tensor) -> torch.Tensor:
    """bfloat16 / float16 (autocast outputs) as float32; any other tensor unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def scale_to_unit(images: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """``(images - lo) / (hi - lo)`` computed in float64, returned as float32.

    Scaling before the float32 cast keeps ``X * a + b`` scoring as ``X``
    for any finite ``a > 0`` and ``b`` (a cast first would round away the
    signal riding on a large offset). Raises ``ValueError`` when the scaled
    values are not finite in float32.
    """
    lo, hi = scale
    with np.errstate(over="ignore", invalid="ignore"):
        out = ((np.asarray(images, dtype=np.float64) - lo) / (hi - lo)).astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(
            f"X scaled by the range seen in fit [{lo!r}, {hi!r}] is not finite in float32; "
            "expected values of the magnitude seen in fit.")
    return out


def resize_images(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize ``(n, C, H, W)`` to ``size x size`` (bilinear, antialiased when shrinking)."""
    if size is None or x.shape[-2:] == (size, size):
        return x
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink)


class ImagePrep:
    """Turn a raw ``(b, C, H, W)`` store slice into the network's float32 input.

    uint8 is divided by 255; float slices are already scaled (by
    :func:`scale_to_unit`). Then resized to ``input_size``. Holds no tensor,
    so nets that carry it pickle anywhere.
    """

    def __init__(self, input_size: int | None):
        self.input_size = input_size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return resize_images(x, self.input_size)


class BaseDetector(OutlierMixin, BaseEstimator):
    """Base class for skssad's self-supervised anomaly detectors.

    Not for direct use: subclasses define ``__init__`` with their parameters
    and implement ``_fit_tensor`` and ``_score_chunk``.
    """

    #: ``input_size`` / ``max_epochs`` / ``lr`` / ``optimizer`` of a detector that
    #: declares them in ``_AUTO`` (they also take "auto").
    _INPUT_SIZE_OR_AUTO = [Interval(Integral, 4, None, closed="left"), None,
                           StrOptions({"auto"})]
    _MAX_EPOCHS_OR_AUTO = [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})]
    _LR_OR_AUTO = [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})]
    _OPTIMIZER_OR_AUTO = [StrOptions({"sgd", "adam", "auto"}), type]

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
        "precision": [StrOptions({"fp32", "bf16", "fp16"})],
        "compile": ["boolean"],
    }

    #: Semi-supervised detectors train on known anomalies (``y == -1``) too.
    _uses_known_anomalies = False
    #: Fewest samples ``fit`` accepts.
    _min_samples = 2

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, reset: bool):
        if not reset:
            self._check_layout(X)
        return validate_data(self, X, reset=reset, allow_nd=True, dtype="numeric",
                             ensure_min_samples=self._min_samples if reset else 1)

    def _check_layout(self, X):
        """At scoring, name a layout that differs from fit's before sklearn's feature check."""
        layout = getattr(self, "input_layout_", None)
        shape = getattr(X, "shape", None)
        if layout is None or shape is None or len(shape) < 2:
            return
        if len(shape) > 4:
            raise ValueError(f"Expected image input of at most 4 dimensions, got shape "
                             f"{tuple(shape)}; videos go to FramePermutationDetector.")
        fitted = "(n, " + ", ".join(str(d) for d in layout) + ")"
        given = tuple(shape[1:])
        if given == tuple(layout) or (len(shape) == 2 and len(layout) == 1):
            return  # same layout, or 2-D rows: sklearn's n_features message is the clear one
        hint = ""
        if len(given) == 3 and len(layout) == 3 and given == (layout[2], *layout[:2]):
            hint = " It looks channels-first: pass X.transpose(0, 2, 3, 1)."
        raise ValueError(f"X has shape {tuple(shape)}, but {type(self).__name__} was fitted "
                         f"on images laid out as {fitted}; pass the same layout as in fit."
                         f"{hint}")

    def _input_store(self, X, *, reset: bool) -> np.ndarray:
        """Validate ``X`` and return its ``(n, C, H, W)`` view in the raw dtype (no copy).

        At fit, records ``input_shape_``, ``input_layout_`` and ``scale_``:
        uint8 is divided by 255; other input is min-max scaled by the range
        seen in ``fit`` (in float64, no clipping at inference).
        """
        X = self._validate_X(X, reset)
        if X.ndim > 4:
            raise ValueError(f"Expected image input of at most 4 dimensions, got shape "
                             f"{X.shape}; videos go to FramePermutationDetector.")
        if X.ndim == 1:
            raise ValueError("Expected 2-D array, got 1-D array instead.")
        images = images_to_nchw(X, self.image_shape)
        if reset:
            self.input_layout_ = tuple(X.shape[1:])
            self.input_shape_ = tuple(images.shape[1:])
            if X.dtype == np.uint8:
                self.scale_ = (0.0, 255.0)
            else:
                lo, hi = float(np.min(images)), float(np.max(images))
                if not np.isfinite(hi - lo):
                    raise ValueError(f"X spans [{lo!r}, {hi!r}], a range too large for float64;"
                                     " expected finite data of a finite range.")
                self.scale_ = (lo, hi if hi > lo else lo + 1.0)
        elif tuple(images.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X holds images of shape (C, H, W)={tuple(images.shape[1:])}, but "
                f"{type(self).__name__} was fitted on {self.input_shape_}.")
        return images

    def _to_device(self, images) -> torch.Tensor:
        """A raw-store slice (numpy or tensor) as a device tensor: uint8 kept, floats scaled."""
        if isinstance(images, torch.Tensor):
            return images.to(self.device_)
        images = np.ascontiguousarray(images)
        if images.dtype != np.uint8 or self.scale_ != (0.0, 255.0):
            images = scale_to_unit(images, self.scale_)
        return torch.from_numpy(images).to(self.device_)

    def _device_store(self, images: np.ndarray) -> torch.Tensor:
        """The whole raw store on the device (uint8 stays uint8), built a chunk at a time."""
        n = len(images)
        dtype = torch.uint8 if images.dtype == np.uint8 and self.scale_ == (0.0, 255.0) \
            else torch.float32
        out = torch.empty((n, *images.shape[1:]), dtype=dtype, device=self.device_)
        step = max(1, (1 << 24) // max(1, int(np.prod(images.shape[1:]))))
        for start in range(0, n, step):
            out[start:start + step] = self._to_device(images[start:start + step])
        return out

    #: The parameters a detector lets take "auto", and their values on RGB and on
    #: grayscale input, e.g. ``{"input_size": {"rgb": 16, "grayscale": 32}}`` (the
    #: detectors' docstrings give the measurements behind each pair).
    _AUTO: dict[str, dict[str, object]] = {}

    def _resolved(self, name: str):
        """Parameter ``name``, with ``"auto"`` resolved on the channels ``fit``
        recorded (``input_shape_``) through ``_AUTO``."""
        value = getattr(self, name)
        if value != "auto":
            return value
        return self._AUTO[name]["rgb" if self._rgb_input else "grayscale"]

    @property
    def _input_side(self) -> int | None:
        """The side the images are resized to: ``input_size`` (``None``: kept)."""
        return self._resolved("input_size")

    @property
    def _epochs(self) -> int:
        """The epochs each pretext net trains: ``max_epochs``."""
        return int(self._resolved("max_epochs"))

    @property
    def _rgb_input(self) -> bool:
        """Whether the images seen in fit have three (colour) channels."""
        return self.input_shape_[0] == 3

    @property
    def _prepare(self) -> ImagePrep:
        """Raw store slice -> network input (scaled float32 at ``input_size``)."""
        return ImagePrep(self._input_side)

    def _as_tensor(self, X, *, reset: bool) -> torch.Tensor:
        """Validate ``X`` and return the whole prepared float32 ``(n, C, H, W)`` tensor.

        Materialises all of ``X``; inference should go through
        :meth:`_map_chunks`, whose memory does not grow with ``len(X)``.
        """
        store = self._input_store(X, reset=reset)
        return self._prepared(store)

    def _prepared(self, store) -> torch.Tensor:
        """All of a store prepared, a chunk at a time (for small training sets)."""
        prep = self._prepare
        parts = [prep(self._to_device(store[i:i + 1024])) for i in range(0, len(store), 1024)]
        if not parts:
            return torch.empty((0, *store.shape[1:]), device=self.device_)
        return torch.cat(parts)

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
        self.nets_ = {}
        self.training_health_ = {}
        self._chance_losses = {}
        store, train, y_train = self._training_store(X, y, reset=True)
        self.input_size_ = self._input_side
        self.max_epochs_ = self._epochs
        with self._seeded(self._seed):
            self._fit_tensor(train, y_train)
            for name in self.nets_:
                if name not in self.training_health_:
                    self._record_health(name)
            self._calibrate(train)
        self._fit_offset(store)
        return self

    def _training_store(self, X, y, *, reset: bool):
        """``(store, train, y_train)`` of ``fit``'s input: the whole device store, and
        what trains (known anomalies dropped by one-class detectors) with its labels."""
        raw = self._input_store(X, reset=reset)
        labels = self._fit_labels(y, len(raw))
        store = self._device_store(raw)
        train, y_train = store, labels
        if labels is not None and not self._uses_known_anomalies:
            keep = labels != -1
            if keep.sum() < self._min_samples:
                raise ValueError(f"Only {int(keep.sum())} normal samples remain after "
                                 f"dropping y == -1; at least {self._min_samples} needed.")
            train, y_train = store[torch.from_numpy(keep).to(store.device)], None
        return store, train, y_train

    def _fit_offset(self, store) -> None:
        """``offset_``: the ``contamination`` percentile of the training scores."""
        scores = self._score_store(store)
        self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))

    def _prepared_shape(self, X) -> tuple[int, int, int]:
        """``(C, H, W)`` of the network input that the raw store ``X`` prepares to."""
        return tuple(self._prepare(self._to_device(X[:1])).shape[1:])

    def _channel_stats(self, X) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the prepared store ``X`` (float64 sums, chunked)."""
        sums = self._map_chunks(X, lambda x: torch.stack(
            [x.double().sum((2, 3)), x.double().pow(2).sum((2, 3))], 1))
        side = self._input_side
        h, w = (side,) * 2 if side else X.shape[-2:]
        n = len(X) * int(h) * int(w)
        total = sums.sum(0)
        mean = total[0] / n
        var = (total[1] - n * mean**2) / max(n - 1, 1)
        std = var.clamp_min(0).sqrt() if len(X) > 1 else torch.ones_like(mean)
        return mean.float(), std.float()

    def _calibration_subset(self, X):
        """``X``, or a seeded subsample of :data:`CALIBRATION_IMAGES` of its rows (in order)."""
        if len(X) <= CALIBRATION_IMAGES:
            return X
        gen = torch.Generator().manual_seed(self._seed)
        keep = torch.randperm(len(X), generator=gen)[:CALIBRATION_IMAGES].sort().values
        return X[keep.to(X.device)]

    def _calibrate(self, X) -> None:
        """Fit post-training statistics on the training data (default: none).

        ``X`` is what ``_fit_tensor`` received (the raw store); pass it to
        :meth:`_map_chunks`, which prepares it a chunk at a time.
        """

    # ------------------------------------------------------------------ inference
    def _map_chunks(self, X, fn, *, size: int = INFERENCE_CHUNK):
        """Apply ``fn`` to ``X`` in prepared, zero-padded chunks of exactly ``size`` rows.

        The one no-grad pass of every detector (scores, calibration, maps,
        pieces, segments). ``X`` is a raw store (the numpy view of
        :meth:`_input_store` or a device tensor of :meth:`_device_store`);
        each chunk is converted, moved to the device, prepared
        (:meth:`_prepare`) and padded, so memory is bounded by ``size``
        whatever ``len(X)`` is, and a sample's result never depends on what
        else is in the call (DESIGN.md, batch independence). Every
        registered net is in eval mode. Returns ``fn``'s output (a tensor or
        a tuple of tensors) for the real rows, concatenated, on the CPU;
        under mixed ``precision`` the half-precision outputs of autocast come
        back as float32, so that callers can mix them with float32 weights.
        """
        self._eval_mode()
        prep = self._prepare
        n, results, single, per_row = len(X), None, False, True
        with torch.no_grad(), autocast_context(getattr(self, "precision", "fp32"), self.device_):
            for start in range(0, n, size):
                chunk = prep(self._to_device(X[start:start + size]))
                b = len(chunk)
                if b < size:
                    chunk = torch.cat([chunk, chunk.new_zeros((size - b, *chunk.shape[1:]))])
                out = fn(chunk)
                parts = (out,) if not isinstance(out, tuple | list) else out
                if results is None:
                    # Per-row results are allocated once, before any chunk's output is
                    # kept: small per-chunk tensors left between the large freed
                    # activations would pin the heap and let RSS grow with n (measured:
                    # 40-141 MB over repeated runs scoring 20,000 images, 41-43 MB so).
                    # A reduction (fewer rows than the chunk) is collected per chunk.
                    single = not isinstance(out, tuple | list)
                    per_row = all(o.ndim and len(o) == size for o in parts)
                    results = [torch.empty((n, *o.shape[1:]),
                                           dtype=_full_precision(o[:0]).dtype) if per_row
                               else [] for o in parts]
                for res, o in zip(results, parts, strict=True):
                    if per_row:
                        res[start:start + b] = o[:b]  # half-precision outputs land as float32
                    else:
                        res.append(_full_precision(o[:b].cpu()))
                del chunk, out, parts
        if results is None:
            return torch.empty(0)
        if not per_row:
            results = [torch.cat(r) for r in results]
        return results[0] if single else tuple(results)

    def _score_store(self, store) -> np.ndarray:
        """``score_samples`` of a store: :meth:`_score_chunk` through :meth:`_map_chunks`."""
        if len(store) == 0:
            return np.empty(0)
        return self._map_chunks(store, self._score_chunk).double().numpy()

    def _eval_mode(self):
        for net in getattr(self, "nets_", {}).values():
            if getattr(net, "initialized_", False):
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
        return self._score_store(self._input_store(X, reset=False))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """``+1`` for normal samples, ``-1`` for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(int)

    # ------------------------------------------------------------------ training
    def _net_callbacks(self, name: str) -> list:
        """The user's callbacks, copied for net ``name``, checkpoints prefixed ``name_``
        (:func:`skssad.callbacks.prefixed_checkpoints`)."""
        from skssad.callbacks import prefixed_checkpoints

        return prefixed_checkpoints(self.callbacks, f"{name}_")

    def _make_net(self, name: str, module, criterion, task, *, schedule="cosine",
                  chance_loss: float | None = None, images: bool = True, **overrides):
        """Build the skorch net ``name`` from the base's parameters and register it.

        Parameters
        ----------
        name : str
            The net's role ("net", "encoder", "color", "head", ...): its key
            in ``nets_`` and ``training_health_`` and its checkpoint prefix.
        module, criterion, task
            As :func:`skssad.training.build_pretext_net`.
        schedule : "cosine", None or callable, default="cosine"
            Learning-rate schedule, ``factor(epoch, max_epochs)`` if callable.
        chance_loss : float or None
            Pretext loss of a chance-level model; defaults to
            ``task.chance_loss`` when the task defines it.
        images : bool, default=True
            The net trains on the raw image store: its loader prepares each
            batch (False for nets trained on features).
        **overrides
            Any other :func:`build_pretext_net` argument.
        """
        params = dict(max_epochs=self._epochs, batch_size=self.batch_size,
                      lr=self._resolved("lr"), optimizer=self._resolved("optimizer"),
                      weight_decay=self.weight_decay,
                      verbose=self.verbose, device=self.device_, schedule=schedule,
                      seed=self._seed + len(self.nets_),
                      precision=getattr(self, "precision", "fp32"),
                      compile=bool(getattr(self, "compile", False)))
        if images:
            params["prepare"] = self._prepare
        params["callbacks"] = self._net_callbacks(name)
        params.update(overrides)
        net = build_pretext_net(module, criterion, task=task, **params)
        if chance_loss is None:
            chance_loss = getattr(task, "chance_loss", None)
        self._chance_losses[name] = None if chance_loss is None else float(chance_loss)
        self.nets_[name] = net
        return net

    def _record_health(self, name: str, **figures) -> dict:
        """Record net ``name``'s training health; warn when it ended at chance.

        ``training_health_[name]`` holds ``loss`` (the pretext loss per
        epoch), ``chance`` (the chance-level loss or None), ``at_chance``
        (the last epoch's loss at least 95 % of chance) and any component ``figures``.
        A net is warned about once per fit: recording it again (a detector adding
        its component figures after calibration) updates the record silently.
        """
        first = name not in self.training_health_
        net = self.nets_[name]
        hist = net.history if getattr(net, "initialized_", False) else []
        loss = [float(v) for v in hist[:, "train_loss"]] if len(hist) else []
        chance = self._chance_losses.get(name)
        at_chance = bool(chance is not None and loss and loss[-1] >= 0.95 * chance)
        record = dict(loss=loss, chance=chance, at_chance=at_chance, **figures)
        self.training_health_[name] = record
        if at_chance and first:
            warnings.warn(PretextAtChanceWarning(
                f"{type(self).__name__}: the {name!r} pretext loss ended at {loss[-1]:.4f}, "
                + ("above" if loss[-1] > chance else "within 5 % of")
                + f" its chance level {chance:.4f}; the network learned nothing the scores "
                "can rely on. Train longer, raise lr, or check the input."),
                stacklevel=3)
        return record

    # ------------------------------------------------------------------ persistence
    def __setstate__(self, state):
        device = state.get("device_")
        if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
            state["device_"] = "cpu"
        self.__dict__.update(state)
        if state.get("device_") == "cpu":
            for net in state.get("nets_", {}).values():
                net.device = "cpu"
                if getattr(net, "initialized_", False):
                    net.module_.to("cpu")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


#: Re-exported for detectors' constraint dictionaries.
__all__ += ["HasMethods", "Interval", "StrOptions"]
