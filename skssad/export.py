"""ONNX and TorchScript export of a fitted detector's whole scoring path.

:func:`export_onnx` writes one ONNX graph that takes a fixed-size chunk of
raw channels-last images ``(chunk, H, W, C)`` — or, for
:class:`~skssad.FramePermutationDetector`, of videos ``(chunk, T, H, W, C)``
of a fixed number of frames ``T`` — and returns their ``score_samples``
(higher = more normal). The graph holds every step the detector applies
at inference:

1. the fit-time scaling ``(x - lo) / (hi - lo)`` (``scale_``; uint8 input
   with ``(0, 255)``), in float64 then float32 as in
   :class:`skssad.base.BaseDetector`;
2. the resize to ``input_size``, written as two constant matrices (the
   bilinear / antialiased resize of the base is linear and separable: its
   matrices are read off by resizing basis images, so no ``Resize``
   operator with its own rounding conventions is involved);
3. the detector's ``_score_chunk``: all views of each sample (static
   indexing), the networks, the OOD statistics and the fusion; for videos
   its ``_score_video_chunk``: the base CNN on every frame, the segments
   and score permutations as constant indices, the cross-entropies and
   the per-video reduction.

The chunk size is fixed (``INFERENCE_CHUNK`` by default), as in the base's
padded chunks, so a sample's score does not depend on which others share
its chunk; :class:`OnnxDetector` pads the last chunk with zeros in numpy.
What ``predict`` needs travels as ONNX metadata (``metadata_props``):
``offset`` (or the ``threshold`` of a :class:`skssad.thresholds.ThresholdedDetector`),
the input layout and shape, the scaling range and the chunk size.

:class:`OnnxDetector` scores with onnxruntime and numpy only. Importing
this module does not import torch; only the export functions do. Loading
an ONNX file parses a protobuf of operators and weights and runs no Python
code, whereas unpickling a detector can execute arbitrary code: ship the
ONNX file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ._layouts import images_to_nchw, video_frames_nhwc

__all__ = ["export_onnx", "export_torchscript", "OnnxDetector", "scoring_module",
           "METADATA_KEYS"]

#: Samples per exported chunk; the same as ``skssad.base.INFERENCE_CHUNK``
#: (not imported from there: that would import torch).
DEFAULT_CHUNK = 32
#: Frames per exported video chunk by default, as ``skssad.video.FRAME_CHUNK``:
#: a chunk holds ``max(1, 128 // T)`` videos of ``T`` frames.
DEFAULT_FRAME_CHUNK = 128

#: Metadata every exported file carries (values are JSON strings).
METADATA_KEYS = ("skssad_version", "detector", "input_layout", "input_shape", "input_dtype",
                 "image_shape", "scale", "chunk_size", "offset", "threshold", "score")


# ---------------------------------------------------------------------- torch side
class _UseDynamo(Exception):
    pass


def _torch():
    import torch

    return torch


def _resize_matrices(height: int, width: int, size: int | None):
    """``(A_h, A_w)`` with ``resize_images(x) == A_h @ x @ A_w.T`` per channel, or None.

    Row ``i`` of the input repeated over all columns resizes to column
    ``A_h[:, i]`` repeated (each row of ``A_w`` sums to one), and likewise
    for columns, so two batches of basis images give both matrices.
    """
    torch = _torch()
    from .base import resize_images

    if size is None or (height, width) == (size, size):
        return None
    rows = torch.eye(height, dtype=torch.float64)[:, None, :, None].expand(height, 1, height,
                                                                           width)
    cols = torch.eye(width, dtype=torch.float64)[:, None, None, :].expand(width, 1, height,
                                                                          width)
    a_h = resize_images(rows.float(), size)[:, 0, :, 0].T.contiguous()
    a_w = resize_images(cols.float(), size)[:, 0, 0, :].T.contiguous()
    # guard: the linear form must reproduce the base's resize
    x = torch.rand(2, 1, height, width, generator=torch.Generator().manual_seed(0))
    err = (a_h @ x @ a_w.T - resize_images(x, size)).abs().max().item()
    if err > 1e-5:
        raise RuntimeError(f"The resize to {size} is not separable-linear (error {err:.2g}); "
                           "it cannot be exported as matrices.")
    return a_h, a_w


def _modules_of(detector) -> list:
    """Every torch module a fitted detector scores with (nets and criteria)."""
    torch = _torch()
    found, seen = [], set()

    def add(m):
        if isinstance(m, torch.nn.Module) and id(m) not in seen:
            seen.add(id(m))
            found.append(m)

    for value in vars(detector).values():
        nets = value.values() if isinstance(value, dict) else [value]
        for v in nets:
            add(v)
            for attr in ("module_", "criterion_"):
                add(getattr(v, attr, None))
    return found


def _one(detector):
    """The detector whose input handling the graph copies: a SeedEnsemble's first member."""
    members = getattr(detector, "members_", None)
    return members[0] if members else detector


def _is_video(detector) -> bool:
    return hasattr(_one(detector), "_score_video_chunk")


def _video_frames(detector, n_frames: int | None) -> int:
    """Frames per exported video: ``n_frames``, else those of the fitted arrays."""
    from .tasks.frames import segment_span

    t = n_frames if n_frames is not None else getattr(detector, "n_features_in_", None)
    if t is None:
        raise ValueError(f"{type(detector).__name__} was fitted on a list of videos; pass "
                         "n_frames, the number of frames of the videos the graph will score.")
    span = segment_span(detector.M, detector.skip)
    if int(t) < span:
        raise ValueError(f"n_frames={t} is shorter than one segment ({span} frames for "
                         f"M={detector.M}, skip={detector.skip}).")
    return int(t)


def scoring_module(detector, chunk_size: int | None = None, input_dtype: str = "float32",
                   n_frames: int | None = None):
    """A ``torch.nn.Module``: a raw chunk of samples -> ``(chunk_size,)`` scores.

    The traced wrapper around the detector's scaling, resize and
    ``_score_chunk`` that :func:`export_onnx` and :func:`export_torchscript`
    export. Images come as ``(chunk_size, H, W, C)``; videos (a detector with
    ``_score_video_chunk``) as ``(chunk_size, n_frames, H, W, C)``. The
    detector must be fitted and on the CPU.
    """
    torch = _torch()
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(detector, "offset_")
    if _one(detector) is not detector:
        return _ensemble_module(detector, chunk_size, input_dtype, n_frames)
    if not str(getattr(detector, "device_", "cpu")).startswith("cpu"):
        raise ValueError(f"Export a detector on the CPU; this one is on {detector.device_!r}. "
                         "Pickle and unpickle it on a CPU-only machine, or refit with "
                         "device='cpu'.")
    if input_dtype not in ("float32", "uint8"):
        raise ValueError(f"input_dtype must be 'float32' or 'uint8', got {input_dtype!r}.")
    if len(getattr(detector, "input_shape_", ())) != 3:
        raise ValueError(f"{type(detector).__name__} does not score images (n, H, W, C) "
                         "or videos (n, T, H, W, C); it does not export.")
    c, h, w = detector.input_shape_
    lo, hi = detector.scale_
    # the detector's own prep: time-series frames stay 1x1 whatever input_size says
    matrices = _resize_matrices(h, w, detector._prepare.input_size)
    video = _is_video(detector)
    t = _video_frames(detector, n_frames) if video else None
    if chunk_size is None:
        chunk_size = max(1, DEFAULT_FRAME_CHUNK // t) if video else DEFAULT_CHUNK

    class ScoringModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # registered, so their weights are graph initializers, not folded constants
            self.parts = torch.nn.ModuleList(_modules_of(detector))
            if matrices is not None:
                self.register_buffer("resize_h", matrices[0])
                self.register_buffer("resize_w", matrices[1])
            else:
                self.resize_h = self.resize_w = None

        def forward(self, images):
            if video:  # (b, T, H, W, C) videos: their frames go through the image steps
                images = images.reshape(chunk_size * t, h, w, c)
            # the base's conversion: (x - lo) / (hi - lo) in float64, then float32
            x = ((images.to(torch.float64) - float(lo)) / float(hi - lo)).to(torch.float32)
            x = x.permute(0, 3, 1, 2)
            if self.resize_h is not None:
                x = torch.matmul(torch.matmul(self.resize_h, x), self.resize_w.T)
            if video:
                return detector._score_video_chunk(x.reshape(chunk_size, t, *x.shape[1:]))
            return detector._score_chunk(x)

    for m in _modules_of(detector):
        m.eval()
    module = ScoringModule().eval()
    sample = (t, h, w, c) if video else (h, w, c)
    module.example = torch.zeros((chunk_size, *sample), dtype=getattr(torch, input_dtype))
    return module


def _ensemble_module(ensemble, chunk_size, input_dtype, n_frames):
    """A SeedEnsemble's graph: each member's scoring module, standardised, averaged."""
    torch = _torch()
    members = [scoring_module(m, chunk_size, input_dtype, n_frames) for m in ensemble.members_]

    class EnsembleScoring(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(members)
            self.register_buffer("center", torch.as_tensor(ensemble.score_center_,
                                                           dtype=torch.float64))
            self.register_buffer("scale", torch.as_tensor(ensemble.score_scale_,
                                                          dtype=torch.float64))

        def forward(self, images):
            scores = torch.stack([m(images).to(torch.float64) for m in self.members])
            return ((scores - self.center[:, None]) / self.scale[:, None]).mean(0)

    module = EnsembleScoring().eval()
    module.example = members[0].example
    return module


def _metadata(detector, module, input_dtype: str, threshold: float | None) -> dict:
    from . import __version__

    one = _one(detector)
    image_shape = getattr(one, "image_shape", None)
    name = type(detector).__name__
    return {
        "skssad_version": __version__,
        "detector": name if one is detector else f"{name}({type(one).__name__})",
        "input_layout": "NTHWC" if _is_video(detector) else "NHWC",
        "input_shape": [int(s) for s in module.example.shape[1:]],
        "input_dtype": input_dtype,
        "image_shape": None if image_shape is None else [int(s) for s in image_shape],
        "scale": [float(s) for s in one.scale_],
        "chunk_size": int(module.example.shape[0]),
        "offset": float(detector.offset_),
        "threshold": None if threshold is None else float(threshold),
        "score": "higher = more normal; predict = -1 where score < threshold (or offset)",
    }


def _unwrap(detector):
    """A ThresholdedDetector exports its fitted detector and its threshold."""
    inner = getattr(detector, "estimator_", None)
    if inner is not None and hasattr(detector, "threshold_"):
        return inner, float(detector.threshold_)
    return detector, None


def export_onnx(detector, path, *, chunk_size: int | None = None,
                input_dtype: str = "float32", opset_version: int = 18,
                exporter: str = "auto", n_frames: int | None = None) -> Path:
    """Write the whole scoring path of a fitted detector as one ONNX graph.

    Parameters
    ----------
    detector : fitted skssad detector, SeedEnsemble or ThresholdedDetector
        On the CPU. A :class:`~skssad.thresholds.ThresholdedDetector` exports
        its detector with its ``threshold_`` in the metadata; a
        :class:`~skssad.ensemble.SeedEnsemble` exports every member's scoring
        path and their standardised mean, as one graph.
    path : str or Path
        Output file (``.onnx``).
    chunk_size : int or None, default=None
        Fixed batch dimension of the graph; :class:`OnnxDetector` pads.
        None: 32 images, or ``max(1, 128 // n_frames)`` videos.
    input_dtype : {"float32", "uint8"}, default="float32"
        Element type of the graph input. "uint8" lets a camera pipeline feed
        raw bytes to onnxruntime directly; :class:`OnnxDetector` then
        accepts uint8 arrays only.
    opset_version : int, default=18
    exporter : {"auto", "torchscript", "dynamo"}, default="auto"
        ``torch.onnx``'s TorchScript-based exporter (fast) or its
        ``torch.export``-based one (needs ``onnxscript``; specialises every
        shape, so it exports what the first cannot, e.g. PuzzleTintColor's
        ``torch.quantile``). "auto" tries the first, then the second.
    n_frames : int or None, default=None
        Videos only: the fixed number of frames ``T`` of the videos the
        graph scores. None: the frames per video of the array seen in fit.

    Returns
    -------
    path : Path
    """
    torch = _torch()
    import onnx

    model, threshold = _unwrap(detector)
    module = scoring_module(model, chunk_size, input_dtype, n_frames)
    path = Path(path)
    if exporter not in ("auto", "torchscript", "dynamo"):
        raise ValueError(f"exporter must be 'auto', 'torchscript' or 'dynamo', got {exporter!r}.")
    names = dict(input_names=["videos" if _is_video(model) else "images"],
                 output_names=["scores"], opset_version=opset_version)
    with torch.no_grad():
        try:
            if exporter == "dynamo":
                raise _UseDynamo
            torch.onnx.export(module, (module.example,), str(path), dynamo=False,
                              do_constant_folding=True, **names)
            used = "torchscript"
        except (_UseDynamo, torch.onnx.errors.OnnxExporterError, RuntimeError) as exc:
            if exporter == "torchscript":
                raise
            if isinstance(exc, _UseDynamo):
                exc = None
            try:
                import onnxscript  # noqa: F401  (the dynamo exporter needs it)
            except ImportError as missing:
                raise ImportError("This detector needs the dynamo ONNX exporter, which needs "
                                  "onnxscript: pip install onnxscript") from (exc or missing)
            # torch.export specialises every shape to the fixed chunk, so shape
            # arithmetic in the losses (paddings, kernel sizes) becomes constant
            program = torch.onnx.export(module, (module.example,), dynamo=True,
                                        verbose=False, **names)
            program.save(str(path), external_data=False)
            used = "dynamo"
    proto = onnx.load(str(path))
    meta = _metadata(model, module, input_dtype, threshold)
    meta["exporter"] = used
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=json.dumps(value))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def export_torchscript(detector, path, *, chunk_size: int | None = None,
                       input_dtype: str = "float32", n_frames: int | None = None) -> Path:
    """Trace the scoring path (as :func:`export_onnx`) and save it as TorchScript.

    The metadata of :func:`export_onnx` is stored as the extra file
    ``skssad.json`` (``torch.jit.load(path, _extra_files={"skssad.json": ""})``).
    Loading TorchScript needs torch but, unlike a pickle, runs no Python
    code of the model's classes.
    """
    torch = _torch()
    model, threshold = _unwrap(detector)
    module = scoring_module(model, chunk_size, input_dtype, n_frames)
    with torch.no_grad():
        traced = torch.jit.trace(module, (module.example,), check_trace=False)
    meta = json.dumps(_metadata(model, module, input_dtype, threshold))
    path = Path(path)
    torch.jit.save(traced, str(path), _extra_files={"skssad.json": meta})
    return path


# ---------------------------------------------------------------------- numpy side
def _as_nhwc(X: np.ndarray, shape: tuple[int, int, int], image_shape) -> np.ndarray:
    """``X`` (2-D flattened, 3-D grayscale or 4-D channels-last) as ``(n, H, W, C)``.

    The base's readings (:func:`skssad._layouts.images_to_nchw`), except that
    flattened rows of the fitted ``H * W * C`` features take the fitted shape
    whatever layout ``fit`` saw.
    """
    h, w, c = shape
    if X.ndim == 2 and image_shape is None and X.shape[1] == h * w * c:
        image_shape = shape
    message = (f"Expected images of shape (n, {h}, {w}, {c}) channels-last (or "
               f"(n, {h}, {w}) / (n, {h * w * c}) flattened), got {X.shape}.")
    try:
        images = images_to_nchw(X, image_shape if X.ndim == 2 else None)
    except ValueError as exc:
        raise ValueError(message) from exc
    if images.shape[1:] != (c, h, w):
        raise ValueError(message)
    return images.transpose(0, 2, 3, 1)


def _as_nthwc(X: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Videos ``X`` (5-D, 4-D grayscale or 2-D time series) as ``(n, T, H, W, C)``.

    The readings of :func:`skssad.video.validate_videos` for arrays
    (:func:`skssad._layouts.video_frames_nhwc`), of exactly ``T`` frames.
    """
    t, h, w, c = shape
    message = (f"Expected videos of shape (n, {t}, {h}, {w}, {c}) channels-last (or "
               f"(n, {t}, {h}, {w}) grayscale, (n, {t}) time series), got {X.shape}.")
    try:
        frames, _ = video_frames_nhwc(X)
    except ValueError as exc:
        raise ValueError(message) from exc
    if frames.shape[1:] != (h, w, c):
        raise ValueError(message)
    if X.shape[1] != t:
        raise ValueError(f"{message} The graph scores videos of exactly {t} frames; export "
                         f"it with n_frames={X.shape[1]} for these.")
    return frames.reshape(len(X), t, h, w, c)


class OnnxDetector:
    """Inference-only detector from an ONNX file: onnxruntime and numpy, no torch.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`export_onnx`.
    threshold : float or None, default=None
        Decision threshold on ``score_samples``; None takes the file's
        ``threshold`` metadata if present, else its ``offset``.
    providers : list of str or None, default=None
        onnxruntime execution providers; None is the CPU provider.
    n_threads : int or None, default=None
        onnxruntime intra-op threads; None lets onnxruntime choose.

    Attributes
    ----------
    metadata_ : dict
        The file's skssad metadata (see ``METADATA_KEYS``).
    threshold_ : float
        Samples scoring below it are anomalies.
    offset_ : float
        The exported detector's own ``offset_``.
    input_shape_ : tuple
        ``(H, W, C)`` of the images the graph takes, or ``(T, H, W, C)`` of
        its videos (``metadata_["input_layout"] == "NTHWC"``).

    Examples
    --------
    >>> det = OnnxDetector("geometric.onnx")  # doctest: +SKIP
    >>> det.predict(images)  # doctest: +SKIP
    """

    def __init__(self, path, *, threshold: float | None = None, providers=None,
                 n_threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("OnnxDetector needs onnxruntime: pip install onnxruntime") from exc
        self.path = str(path)
        options = ort.SessionOptions()
        if n_threads is not None:
            options.intra_op_num_threads = int(n_threads)
            options.inter_op_num_threads = 1
        self.session_ = ort.InferenceSession(self.path, sess_options=options,
                                             providers=providers or ["CPUExecutionProvider"])
        raw = self.session_.get_modelmeta().custom_metadata_map
        missing = [k for k in METADATA_KEYS if k not in raw]
        if missing:
            raise ValueError(f"{self.path} lacks the skssad metadata {missing}; export it "
                             "with skssad.export.export_onnx.")
        self.metadata_: dict[str, Any] = {k: json.loads(v) for k, v in raw.items()}
        self.input_shape_ = tuple(self.metadata_["input_shape"])
        self.chunk_size_ = int(self.metadata_["chunk_size"])
        self.input_dtype_ = np.dtype(self.metadata_["input_dtype"])
        self.offset_ = float(self.metadata_["offset"])
        if threshold is None:
            threshold = self.metadata_["threshold"]
        self.threshold_ = float(self.offset_ if threshold is None else threshold)
        self._input = self.session_.get_inputs()[0].name

    def _validate(self, X) -> np.ndarray:
        video = self.metadata_["input_layout"] == "NTHWC"
        kind, dims = ("video", (2, 4, 5)) if video else ("image", (2, 3, 4))
        try:
            X = np.asarray(X)
        except ValueError as exc:  # a ragged list of videos
            raise ValueError(f"Expected an array of {kind}s of one shape; the graph scores "
                             f"samples of shape {self.input_shape_}.") from exc
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"Expected a numeric {kind} array, got dtype {X.dtype}.")
        if X.ndim not in dims or len(X) == 0:
            raise ValueError(f"Expected a non-empty {'-D, '.join(map(str, dims))}-D {kind} "
                             f"array, got shape {X.shape}.")
        if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf.")
        X = (_as_nthwc(X, self.input_shape_) if video else
             _as_nhwc(X, self.input_shape_, self.metadata_["image_shape"]))
        if self.input_dtype_ == np.uint8:
            if X.dtype != np.uint8:
                raise ValueError(f"This graph takes uint8 images; got {X.dtype}. Export with "
                                 "input_dtype='float32' to score other types.")
            return np.ascontiguousarray(X)
        return np.ascontiguousarray(X, dtype=np.float32)

    def score_samples(self, X) -> np.ndarray:
        """Normality score of each sample (higher = more normal), float64."""
        X = self._validate(X)
        size, out = self.chunk_size_, []
        for start in range(0, len(X), size):
            chunk = X[start:start + size]
            b = len(chunk)
            if b < size:  # the base pads its last chunk with zeros too
                chunk = np.concatenate([chunk, np.zeros((size - b, *chunk.shape[1:]),
                                                        dtype=chunk.dtype)])
            out.append(self.session_.run(None, {self._input: chunk})[0][:b])
        return np.concatenate(out).astype(np.float64)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - threshold_``: negative for anomalies."""
        return self.score_samples(X) - self.threshold_

    def predict(self, X) -> np.ndarray:
        """``+1`` for normal samples, ``-1`` for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(int)

    def __repr__(self) -> str:
        return (f"OnnxDetector({self.path!r}, detector={self.metadata_['detector']}, "
                f"threshold={self.threshold_:.6g})")
