"""ONNX and TorchScript export of a fitted detector's whole scoring path.

:func:`export_onnx` writes one ONNX graph that takes a fixed-size chunk of
raw channels-last images ``(chunk, H, W, C)`` and returns their
``score_samples`` (higher = more normal). The graph holds every step the
detector applies at inference:

1. the fit-time scaling ``(x - lo) / (hi - lo)`` (``scale_``; uint8 input
   with ``(0, 255)``), in float64 then float32 as in
   :class:`skssad.base.BaseDetector`;
2. the resize to ``input_size``, written as two constant matrices (the
   bilinear / antialiased resize of the base is linear and separable: its
   matrices are read off by resizing basis images, so no ``Resize``
   operator with its own rounding conventions is involved);
3. the detector's ``_score_chunk``: all views of each sample (static
   indexing), the networks, the OOD statistics and the fusion.

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

from ._layouts import images_to_nchw

__all__ = ["export_onnx", "export_torchscript", "OnnxDetector", "scoring_module",
           "METADATA_KEYS"]

#: Samples per exported chunk; the same as ``skssad.base.INFERENCE_CHUNK``
#: (not imported from there: that would import torch).
DEFAULT_CHUNK = 32

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


def scoring_module(detector, chunk_size: int = DEFAULT_CHUNK, input_dtype: str = "float32"):
    """A ``torch.nn.Module``: raw ``(chunk_size, H, W, C)`` images -> ``(chunk_size,)`` scores.

    The traced wrapper around the detector's scaling, resize and
    ``_score_chunk`` that :func:`export_onnx` and :func:`export_torchscript`
    export. The detector must be fitted and on the CPU.
    """
    torch = _torch()
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(detector, "offset_")
    if not str(getattr(detector, "device_", "cpu")).startswith("cpu"):
        raise ValueError(f"Export a detector on the CPU; this one is on {detector.device_!r}. "
                         "Pickle and unpickle it on a CPU-only machine, or refit with "
                         "device='cpu'.")
    if input_dtype not in ("float32", "uint8"):
        raise ValueError(f"input_dtype must be 'float32' or 'uint8', got {input_dtype!r}.")
    if len(getattr(detector, "input_shape_", ())) != 3:
        raise ValueError(f"{type(detector).__name__} does not score images (n, H, W, C); "
                         "only image detectors export.")
    c, h, w = detector.input_shape_
    lo, hi = detector.scale_
    matrices = _resize_matrices(h, w, detector.input_size)

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
            # the base's conversion: (x - lo) / (hi - lo) in float64, then float32
            x = ((images.to(torch.float64) - float(lo)) / float(hi - lo)).to(torch.float32)
            x = x.permute(0, 3, 1, 2)
            if self.resize_h is not None:
                x = torch.matmul(torch.matmul(self.resize_h, x), self.resize_w.T)
            return detector._score_chunk(x)

    for m in _modules_of(detector):
        m.eval()
    module = ScoringModule().eval()
    module.example = torch.zeros((chunk_size, h, w, c), dtype=getattr(torch, input_dtype))
    return module


def _metadata(detector, chunk_size: int, input_dtype: str, threshold: float | None) -> dict:
    from . import __version__

    c, h, w = detector.input_shape_
    image_shape = getattr(detector, "image_shape", None)
    return {
        "skssad_version": __version__,
        "detector": type(detector).__name__,
        "input_layout": "NHWC",
        "input_shape": [h, w, c],
        "input_dtype": input_dtype,
        "image_shape": None if image_shape is None else [int(s) for s in image_shape],
        "scale": [float(s) for s in detector.scale_],
        "chunk_size": int(chunk_size),
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


def export_onnx(detector, path, *, chunk_size: int = DEFAULT_CHUNK,
                input_dtype: str = "float32", opset_version: int = 18,
                exporter: str = "auto") -> Path:
    """Write the whole scoring path of a fitted image detector as one ONNX graph.

    Parameters
    ----------
    detector : fitted skssad image detector or ThresholdedDetector
        On the CPU. A :class:`~skssad.thresholds.ThresholdedDetector` exports
        its detector with its ``threshold_`` in the metadata.
    path : str or Path
        Output file (``.onnx``).
    chunk_size : int, default=32
        Fixed batch dimension of the graph; :class:`OnnxDetector` pads.
    input_dtype : {"float32", "uint8"}, default="float32"
        Element type of the graph input. "uint8" lets a camera pipeline feed
        raw bytes to onnxruntime directly; :class:`OnnxDetector` then
        accepts uint8 arrays only.
    opset_version : int, default=18
    exporter : {"auto", "torchscript", "dynamo"}, default="auto"
        ``torch.onnx``'s TorchScript-based exporter (fast) or its
        ``torch.export``-based one (needs ``onnxscript``; specialises every
        shape, so it exports losses whose paddings are computed from
        shapes, e.g. IGD's MS-SSIM). "auto" tries the first, then the second.

    Returns
    -------
    path : Path
    """
    torch = _torch()
    import onnx

    model, threshold = _unwrap(detector)
    module = scoring_module(model, chunk_size, input_dtype)
    path = Path(path)
    if exporter not in ("auto", "torchscript", "dynamo"):
        raise ValueError(f"exporter must be 'auto', 'torchscript' or 'dynamo', got {exporter!r}.")
    names = dict(input_names=["images"], output_names=["scores"], opset_version=opset_version)
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
    meta = _metadata(model, chunk_size, input_dtype, threshold)
    meta["exporter"] = used
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=json.dumps(value))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def export_torchscript(detector, path, *, chunk_size: int = DEFAULT_CHUNK,
                       input_dtype: str = "float32") -> Path:
    """Trace the scoring path (as :func:`export_onnx`) and save it as TorchScript.

    The metadata of :func:`export_onnx` is stored as the extra file
    ``skssad.json`` (``torch.jit.load(path, _extra_files={"skssad.json": ""})``).
    Loading TorchScript needs torch but, unlike a pickle, runs no Python
    code of the model's classes.
    """
    torch = _torch()
    model, threshold = _unwrap(detector)
    module = scoring_module(model, chunk_size, input_dtype)
    with torch.no_grad():
        traced = torch.jit.trace(module, (module.example,), check_trace=False)
    meta = json.dumps(_metadata(model, chunk_size, input_dtype, threshold))
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
        ``(H, W, C)`` of the images the graph takes.

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
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"Expected a numeric image array, got dtype {X.dtype}.")
        if X.ndim not in (2, 3, 4) or len(X) == 0:
            raise ValueError(f"Expected a non-empty 2-D, 3-D or 4-D image array, got shape "
                             f"{X.shape}.")
        if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf.")
        X = _as_nhwc(X, self.input_shape_, self.metadata_["image_shape"])
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
