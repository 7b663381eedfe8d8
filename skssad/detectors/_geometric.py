"""GeometricTransformDetector: the MHRot method.

puzzle-geom-multitask.txt §2.3 Eq. (2); puzzle-tint-color-multicue.txt
§II-D Eq. (5). A WideResNet with three softmax heads learns which vertical
translation, horizontal translation and 90° rotation was applied to a
normal image; a sample is as normal as the summed probability of the true
transformation over all 36 compositions.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils.validation import check_is_fitted

from ..base import BaseDetector, Interval
from ..losses import MultiHeadCrossEntropy
from ..nets import MultiHeadNet, Standardize, WideResNet
from ..ood import softmax_truth
from ..tasks.geometric import (
    GEOMETRIC_LABELS,
    N_ROTATIONS,
    N_TRANSLATIONS,
    GeometricTask,
    all_geometric_views,
)

__all__ = ["GeometricTransformDetector"]

HEAD_SIZES = (N_ROTATIONS, N_TRANSLATIONS, N_TRANSLATIONS)


class GeometricTransformDetector(BaseDetector):
    """Self-supervised anomaly detection by geometric transformation prediction (MHRot).

    A WideResNet feature extractor with three softmax heads (rotation by
    0/90/180/270°, horizontal translation 0/-t/+t, vertical translation
    0/-t/+t, each with dropout) is trained on normal images with the sum
    of the heads' cross-entropies. At inference every sample is transformed
    by all 36 compositions, scored in one batched forward pass, and its
    normality score is Eq. (2): the sum over compositions and heads of the
    softmax probability of the true transformation (divided by 36).

    Parameters
    ----------
    shift : int or None, default=None
        Translation ``t`` in pixels of the network input; ``None`` means
        ``input_size // 4`` (8 pixels at 32x32, as MHRot).
    n_views : int, default=4
        Random compositions drawn per image and batch in training.
    depth : int, default=16
        WideResNet depth (``6 n + 4``); the papers use WRN-16-4.
    width : int, default=4
        WideResNet widening factor.
    dropout : float, default=0.3
        Dropout on each head (puzzle-geom-multitask.txt §4).
    input_size : int, default=32
        Images are resized to ``input_size x input_size``.
    image_shape : tuple or None, default=None
        ``(H, W)`` or ``(H, W, C)`` of flattened 2-D input; inferred if None.
    contamination : float, default=0.1
        Share of training samples below ``offset_``.
    max_epochs : int, default=15
    batch_size : int, default=32
        Images per batch (each contributes ``n_views`` transformed copies).
    lr : float, default=0.05
    optimizer : {"sgd", "adam"} or torch optimizer class, default="sgd"
        "sgd" is SGD with Nesterov momentum 0.9, cosine-annealed.
    weight_decay : float, default=5e-4
    callbacks : list or None, default=None
        Extra skorch callbacks (checkpointing, early stopping on ``train_loss``).
    verbose : int, default=0
        skorch's epoch table and a progress bar when > 0.
    device : str, default="auto"
        "auto" takes CUDA when available.
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Mixed precision of training and scoring (``torch.autocast``;
        ``"fp16"`` with loss scaling). Weights stay float32.
    compile : bool, default=False
        ``torch.compile`` the network (skorch's ``compile=True``).
    random_state : int, RandomState or None, default=None
        Fixes weights, shuffling and drawn transformations.

    Attributes
    ----------
    net_ : skssad.training.PretextNet
        The fitted skorch net; ``net_.history`` has the losses.
    offset_ : float
        Threshold of ``decision_function``.
    shift_ : int
        Translation used.
    device_ : str
        Device the networks live on.
    input_shape_ : tuple
        ``(C, H, W)`` of the images seen in fit.
    n_features_in_ : int

    See Also
    --------
    PuzzleTintColorDetector : adds puzzle, tint and colorization tasks.

    References
    ----------
    .. [1] Hendrycks et al., "Using self-supervised learning can improve model
       robustness and uncertainty", NeurIPS 2019 (MHRot).
    .. [2] Jezequel et al., "Anomaly detection via multi-scale contrasted
       memory / puzzle-geom multi-task", §2.3 Eq. (2).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skssad import GeometricTransformDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> det = GeometricTransformDetector(depth=10, width=1, input_size=16,
    ...                                  max_epochs=1, random_state=0)
    >>> det.fit(X[y == 0]).score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "shift": [Interval(Integral, 1, None, closed="left"), None],
        "n_views": [Interval(Integral, 1, 36, closed="both")],
        "depth": [Interval(Integral, 10, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, *, shift=None, n_views=4, depth=16, width=4, dropout=0.3,
                 input_size=32, image_shape=None, contamination=0.1, max_epochs=15,
                 batch_size=32, lr=0.05, optimizer="sgd", weight_decay=5e-4,
                 callbacks=None, verbose=0, device="auto", precision="fp32", compile=False,
                 random_state=None):
        self.shift = shift
        self.n_views = n_views
        self.depth = depth
        self.width = width
        self.dropout = dropout
        self.input_size = input_size
        self.image_shape = image_shape
        self.contamination = contamination
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.callbacks = callbacks
        self.verbose = verbose
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state

    def _fit_tensor(self, X, y=None):
        side = self.input_size or X.shape[-1]
        self.shift_ = int(self.shift) if self.shift is not None else max(side // 4, 1)
        if self.shift_ >= side:
            raise ValueError(f"shift={self.shift_} must be smaller than the image side {side}.")
        module = MultiHeadNet(WideResNet(X.shape[1], self.depth, self.width),
                              HEAD_SIZES, dropout=self.dropout,
                              preprocess=Standardize(*self._channel_stats(X)))
        self.net_ = self._make_net("net", module, MultiHeadCrossEntropy(HEAD_SIZES),
                                   GeometricTask(self.shift_, self.n_views))
        self.net_.fit(X, None)

    def anomaly_map(self, X, *, window: int | None = None, stride: int | None = None):
        """Occlusion map of the Eq. (2) score: higher = more anomalous.

        MHRot has no native localisation; each pixel gets the mean rise of
        the normality score when a window covering it is blurred away (see
        :func:`skssad.attribution.anomaly_map`, which explains why occlusion
        rather than input gradients of saturated softmax scores).

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W)
            At the resolution of the input images.
        """
        from ..attribution import anomaly_map

        check_is_fitted(self, "offset_")
        return anomaly_map(self, X, window=window, stride=stride)

    def _score_chunk(self, X):
        # Eq. (2): all 36 views of the chunk in one forward pass.
        views, labels = all_geometric_views(X, self.shift_)
        logits = self.net_.module_(views)
        per_view = softmax_truth(logits, labels, HEAD_SIZES)
        return per_view.view(len(X), len(GEOMETRIC_LABELS)).mean(1)
