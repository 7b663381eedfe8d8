"""IGDDetector: interpolated Gaussian descriptor with glocal MS-SSIM.

igd-interpolated-gaussian-descriptor.txt §3, §4.2. An auto-encoder (Eq. 1)
is trained on normal images with the MS-SSIM + MAE loss (Eq. 8-9), an ACAI
critic on interpolated embeddings (Eq. 2, 5, 6) and a Gaussian SVDD on the
embeddings (Eq. 7) whose latent variables are re-estimated by an E-step
before every epoch. Score: Eq. (11); pixel-level anomaly map: Eq. (12).
"""

from __future__ import annotations

import copy
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import BaseDetector, Interval, StrOptions, resize_images
from ..callbacks import EStep, poly_factor
from ..losses import IGDLoss, glocal_reconstruction_map
from ..nets import DistillationStudent, FeatureTeacher, IGDNet
from ..tasks.patches import PatchTiler
from ..tasks.reconstruction import ReconstructionTask
from ..training import CriticNet

__all__ = ["IGDDetector"]

#: Patches per forward pass of anomaly_map (dense map strides give many patches).
_MAP_PATCHES = 1024


class IGDDetector(BaseDetector):
    """Anomaly detection with an interpolated Gaussian descriptor (IGD) and glocal MS-SSIM.

    An auto-encoder f/g of pre-activated residual blocks (Eq. 1) learns to
    reconstruct normal images under Eq. (8): ρ·MAE + (1-ρ)·(1 - (β m_G +
    (1-β) m_L)), m_G the MS-SSIM of the whole input and m_L the mean of its
    per-pixel MS-SSIM map (Eq. 9; scales and window chosen from the input
    size so that every scale carries structure, see
    :func:`skssad.losses.msssim_scales`). An ACAI critic predicts the mixing
    coefficient α of decoded interpolations of embeddings (Eq. 2, 5) and the
    auto-encoder learns to fool it (Eq. 6). A Gaussian SVDD (Eq. 7) pulls
    the embeddings towards μ_γ; μ_γ and σ²_γ are re-estimated before every
    epoch (E-step) and the networks trained against them (M-step).
    Optionally the encoder is first distilled from a teacher (Eq. 10). The
    score is Eq. (11), ξ ℓ_m + (1-ξ) ℓ_h, with its sign flipped (higher =
    more normal). With ``input_size=None`` images larger than
    ``patch_size`` are cut into patches (the paper's local model) and scored
    by their worst patch; ``global_size`` adds the global model on the whole
    image (§4.2). :meth:`anomaly_map` gives Eq. (12) per pixel.

    Parameters
    ----------
    encoder_widths : tuple of int, default=(128, 256, 512)
        Filters of the encoder's (and critic's) residual blocks; each halves
        the resolution (§4.2).
    decoder_widths : tuple of int, default=(256, 128, 64)
        Filters of the decoder's blocks; as many as ``encoder_widths``.
    latent_dim : int, default=128
        d_z (§4.2).
    descriptor : {"gsvdd", "dsvdd"} or None, default="gsvdd"
        Gaussian SVDD (Eq. 7), the soft-boundary Deep SVDD of Table 5 (score
        term ‖z - c‖² - R²), or none (reconstruction only).
    interpolation : bool, default=True
        Train the ACAI critic and its penalty (Eq. 2, 5, 6).
    rho : float, default=0.15
        ρ, weight of the MAE in Eq. (8).
    beta : float, default=1.0
        β, weight of the global MS-SSIM m_G against the local m_L in Eq. (8)
        and (12). 1 is the global term alone, as the paper on MNIST, Fashion-
        MNIST and CIFAR-10 (footnote 1); MVTec AD uses 0.1 (§4.2).
    xi : float, default=0.5
        ξ, weight of the reconstruction loss in the score of Eq. (11).
    lam : float, default=0.1
        λ of the critic penalty in Eq. (6).
    gamma : float, default=0.2
        Blend of the critic's regulariser in Eq. (5).
    kappa : float, default=0.5
        κ of the variance estimate in Eq. (7).
    min_var : float, default=1.0
        Lower bound of σ²_γ (§4.2).
    nu : float, default=0.1
        ν of the soft-boundary Deep SVDD: R² is the (1 - ν)-quantile.
    patch_size : int, default=32
        Model input side when ``input_size=None`` and the images are larger.
    patch_stride : int, default=16
        Stride between patches in training and ``score_samples`` (§4.2).
    map_stride : int or None, default=None
        Stride between patches in :meth:`anomaly_map` (None: ``patch_stride``);
        a pixel averages the maps of the patches covering it.
    global_size : int or None, default=None
        Patch mode only: also train the paper's global model (§4.2: 256x256
        whole images, H_G) on the images resized to ``global_size``; each
        model then uses the MS-SSIM of its whole input (m_L of the patch,
        m_G of the image) and score and map are β·global + (1-β)·local.
    teacher : torch.nn.Module, callable or None, default=None
        Pre-trained network of Eq. (10) (e.g. an ImageNet ResNet-18, never
        downloaded). Its features (``teacher_layer``'s output, spatially
        averaged) are matched by the encoder's pooled features before
        training, then the encoder's trunk is frozen (§4.2). Images are
        normalised with ImageNet's mean / std (``teacher_normalize``) and
        grayscale repeated to three channels, as the teacher was trained.
    teacher_layer : str or None, default=None
        Submodule of ``teacher`` whose output is distilled (``"layer4"``: the
        512-d features of a ResNet-18); None takes the teacher's output.
    teacher_normalize : bool, default=True
        Normalise the teacher's input with ImageNet's mean and std.
    teacher_epochs : int, default=10
        Epochs of distillation (Adam, lr 1e-4, weight decay 1e-5, §4.2).
    input_size : int or None, default=32
    image_shape : tuple or None, default=None
    contamination : float, default=0.1
    max_epochs : int, default=128
        §4.2 (MNIST, Fashion-MNIST, CIFAR-10).
    batch_size : int, default=64
    lr : float, default=1e-4
    optimizer : {"sgd", "adam"} or torch optimizer class, default="adam"
        Adam with the learning rate decayed to 0 by a polynomial (§4.2); the
        critic has its own optimizer of the same class and rate.
    weight_decay : float, default=1e-6
    callbacks : list or None, default=None
    verbose : int, default=0
    device : str, default="auto"
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Mixed precision of training and scoring (``torch.autocast``;
        ``"fp16"`` with loss scaling, shared by both optimizers). Weights stay float32.
    compile : bool, default=False
        ``torch.compile`` the networks (skorch's ``compile=True``).
    random_state : int, RandomState or None, default=None
        Fixes weights, shuffling and the interpolation coefficients.

    Attributes
    ----------
    net_ : skssad.training.CriticNet
        ``net_.module_`` is an :class:`~skssad.nets.IGDNet`; ``net_.criterion_``
        an :class:`~skssad.losses.IGDLoss` whose buffers ``center``, ``var``
        and ``radius2`` hold the E-step's estimates; ``net_.history`` has
        ``train_loss`` and per-batch ``critic_loss``.
    global_net_ : skssad.training.CriticNet
        The global model (only with ``global_size`` in patch mode).
    model_size_ : int
        Side of the model's input (the patch side in patch mode).
    patch_mode_ : bool
        Whether images are scored by patches.
    distill_loss_ : float
        Last epoch's Eq. (10) loss (only with a ``teacher``).
    offset_, device_, input_shape_, n_features_in_

    See Also
    --------
    skssad.overlay_anomaly_map : draw an :meth:`anomaly_map` over its image.

    Notes
    -----
    One auto-encoder serves both terms of Eq. (8) (the paper trains a
    separate 256x256 global model for MVTec AD, §4.2). The per-pixel maps
    sum the weighted per-scale SSIM maps, as the authors' localisation code.
    Images are in [0, 1], so MS-SSIM uses L = 1, not the paper's
    ImageNet-normalised 4.7579.

    References
    ----------
    .. [1] Chen, Tian, Pang, Carneiro, "Unsupervised anomaly detection and
       localisation with multi-scale interpolated Gaussian descriptors", 2021
       (published as "Deep one-class classification via interpolated
       Gaussian descriptor", AAAI 2022).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skssad import IGDDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> det = IGDDetector(encoder_widths=(8, 8, 8), decoder_widths=(8, 8, 8), latent_dim=8,
    ...                   input_size=8, max_epochs=1, random_state=0)
    >>> det.fit(X[y == 0]).score_samples(X[:3]).shape
    (3,)
    >>> det.anomaly_map(X[:2]).shape
    (2, 8, 8)
    """

    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "encoder_widths": [tuple, list],
        "decoder_widths": [tuple, list],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "descriptor": [StrOptions({"gsvdd", "dsvdd"}), None],
        "interpolation": ["boolean"],
        "rho": [Interval(Real, 0, 1, closed="both")],
        "beta": [Interval(Real, 0, 1, closed="both")],
        "xi": [Interval(Real, 0, 1, closed="both")],
        "lam": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, 1, closed="both")],
        "kappa": [Interval(Real, 0, 1, closed="right")],
        "min_var": [Interval(Real, 0, None, closed="neither")],
        "nu": [Interval(Real, 0, 1, closed="right")],
        "patch_size": [Interval(Integral, 4, None, closed="left")],
        "patch_stride": [Interval(Integral, 1, None, closed="left")],
        "map_stride": [Interval(Integral, 1, None, closed="left"), None],
        "global_size": [Interval(Integral, 4, None, closed="left"), None],
        "teacher": [callable, None],
        "teacher_layer": [str, None],
        "teacher_normalize": ["boolean"],
        "teacher_epochs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, encoder_widths=(128, 256, 512), decoder_widths=(256, 128, 64),
                 latent_dim=128, descriptor="gsvdd", interpolation=True, rho=0.15, beta=1.0,
                 xi=0.5, lam=0.1, gamma=0.2, kappa=0.5, min_var=1.0, nu=0.1, patch_size=32,
                 patch_stride=16, map_stride=None, global_size=None, teacher=None,
                 teacher_layer=None, teacher_normalize=True, teacher_epochs=10, input_size=32,
                 image_shape=None,
                 contamination=0.1, max_epochs=128, batch_size=64, lr=1e-4, optimizer="adam",
                 weight_decay=1e-6, callbacks=None, verbose=0, device="auto",
                 precision="fp32", compile=False, random_state=None):
        self.encoder_widths = encoder_widths
        self.decoder_widths = decoder_widths
        self.latent_dim = latent_dim
        self.descriptor = descriptor
        self.interpolation = interpolation
        self.rho = rho
        self.beta = beta
        self.xi = xi
        self.lam = lam
        self.gamma = gamma
        self.kappa = kappa
        self.min_var = min_var
        self.nu = nu
        self.patch_size = patch_size
        self.patch_stride = patch_stride
        self.map_stride = map_stride
        self.global_size = global_size
        self.teacher = teacher
        self.teacher_layer = teacher_layer
        self.teacher_normalize = teacher_normalize
        self.teacher_epochs = teacher_epochs
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

    def _model_input(self, X, stride=None):
        """Images, or their patches in patch mode: what the auto-encoder sees."""
        if not self.patch_mode_:
            return X
        return PatchTiler(self.model_size_, stride or self.patch_stride).tile(X)

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
        if len(self.encoder_widths) != len(self.decoder_widths):
            raise ValueError(f"encoder_widths {tuple(self.encoder_widths)} and decoder_widths "
                             f"{tuple(self.decoder_widths)} must have the same length.")
        h, w = self._prepared_shape(X)[1:]
        self.patch_mode_ = self.input_size is None and max(h, w) > self.patch_size
        if not self.patch_mode_ and h != w:
            raise ValueError(f"IGDDetector needs square images or input_size set; got {h}x{w}.")
        self.model_size_ = int(self.patch_size) if self.patch_mode_ else int(h)
        # §4.2's pair: each model's MS-SSIM of its whole input; β combines the two models
        self.global_mode_ = self.patch_mode_ and self.global_size is not None
        beta = 1.0 if self.global_mode_ else self.beta
        self.net_ = self._fit_model("net", self._model_input(X), beta)
        if self.global_mode_:
            self.global_net_ = self._fit_model("global", self._global_input(X), 1.0)

    def _global_input(self, X):
        """The global model's training set: every image at ``global_size`` (float32)."""
        return self._map_chunks(X, partial(resize_images, size=self.global_size)).to(X.device)

    def _fit_model(self, name, X, beta):
        """Distil (optionally), then train one auto-encoder + critic by EM on ``X``."""
        module = IGDNet(X.shape[1], encoder_widths=tuple(self.encoder_widths),
                        decoder_widths=tuple(self.decoder_widths), latent_dim=self.latent_dim,
                        input_size=self._prepared_shape(X)[-1], critic=self.interpolation)
        if self.teacher is not None:
            self._distill(f"{name}_distill", module.encoder, X)
        loss = IGDLoss(self.latent_dim, descriptor=self.descriptor, rho=self.rho, beta=beta,
                       lam=self.lam, gamma=self.gamma, nu=self.nu)
        net = self._make_net(
            name, module, loss, ReconstructionTask(), schedule=poly_factor, net_class=CriticNet,
            callbacks=[("estep", EStep(partial(self._estep, name))), *self._net_callbacks(name)],
            # batch norm cannot train on a last batch of one sample
            iterator_train__drop_last=len(X) % self.batch_size == 1)
        net.fit(X, None)  # an auto-encoder: the targets are the (prepared) inputs
        self._record_health(name, **self._reconstruction_health(net, X))
        return net

    def _calibrate(self, X):
        """The E-step once more on the trained encoders: the descriptors used to score."""
        self._estep("net", self._model_input(X), first=False)
        if self.global_mode_:
            self._estep("global", self._global_input(X), first=False)

    def _estep(self, name, X, first):
        """Eq. (7)'s E-step (:meth:`IGDLoss.estep`) on the embeddings of ``X``."""
        net = self.nets_[name]
        if net.criterion_.descriptor is not None:
            net.criterion_.estep(self._map_chunks(X, net.module_.encoder), first=first,
                                 kappa=self.kappa, min_var=self.min_var)

    def _reconstruction_health(self, net, X) -> dict:
        """ℓ_m of the trained model beside two models that learned nothing texture-wise:
        the mean training image and each input's own mean grey (a flat reconstruction)."""
        loss, module = net.criterion_, net.module_
        # padding rows are zeros: summing chunk sums gives the training set's sum
        mean = self._map_chunks(X, lambda x: x.sum(0, keepdim=True)).sum(0) / len(X)
        rec, flat, avg = (self._map_chunks(X, fn).mean().item() for fn in (
            lambda x: loss.reconstruction(x, module(x)[1]),
            lambda x: loss.reconstruction(x, x.mean((2, 3), keepdim=True).expand_as(x)),
            lambda x: loss.reconstruction(x, mean.to(x.device).expand_as(x))))
        return dict(reconstruction=rec, reconstruction_flat=flat, reconstruction_mean_image=avg)

    def _distill(self, name, encoder, X):
        """Eq. (10): match the teacher's features, then freeze the encoder's trunk (§4.2)."""
        teacher = FeatureTeacher(copy.deepcopy(self.teacher), self.teacher_layer,
                                 **({} if self.teacher_normalize else dict(mean=None)))
        if isinstance(teacher.teacher, nn.Module):
            teacher.teacher.eval()
        targets = self._map_chunks(X, teacher.to(self.device_)).float().to(self.device_)
        net = self._make_net(name, DistillationStudent(encoder, targets.shape[1]),
                             nn.MSELoss, None, schedule=poly_factor,
                             max_epochs=self.teacher_epochs, lr=1e-4, optimizer="adam",
                             weight_decay=1e-5,
                             chance_loss=float(((targets - targets.mean(0)) ** 2).mean()))
        net.fit(X, targets)
        self.distill_loss_ = self._record_health(name)["loss"][-1]
        for part in (encoder.stem, encoder.blocks, encoder.bn):
            part.requires_grad_(False)

    # ------------------------------------------------------------------ scoring
    def _score_chunk(self, X):
        x = self._model_input(X)
        z, x_rec = self.net_.module_(x)
        s = self.net_.criterion_.score(x, z, x_rec, self.xi)  # Eq. (11)
        # an image is as anomalous as its worst patch; sign flipped: higher = more normal
        s = s.view(len(X), -1).amax(1)
        if self.global_mode_:
            g = resize_images(X, self.global_size)
            s_g = self.global_net_.criterion_.score(g, *self.global_net_.module_(g), self.xi)
            s = self.beta * s_g + (1 - self.beta) * s
        return -s

    def _map_chunk(self, X):
        # Eq. (12): the reconstruction loss at each pixel (no descriptor term)
        m = self._pixel_loss(self.net_, self._model_input(X, self.map_stride))
        if self.patch_mode_:
            tiler = PatchTiler(self.model_size_, self.map_stride or self.patch_stride)
            m = tiler.merge(m.view(len(X), -1, *m.shape[1:]), X.shape[2:])
        if self.global_mode_:
            m_g = self._pixel_loss(self.global_net_, resize_images(X, self.global_size))
            m_g = F.interpolate(m_g[:, None], size=X.shape[2:], mode="bilinear",
                                align_corners=False)[:, 0]
            m = self.beta * m_g + (1 - self.beta) * m
        return m

    @staticmethod
    def _pixel_loss(net, x):
        loss = net.criterion_
        return torch.cat([glocal_reconstruction_map(p, net.module_(p)[1], rho=loss.rho,
                                                    beta=loss.beta)
                          for p in x.split(_MAP_PATCHES)])

    def anomaly_map(self, X) -> np.ndarray:
        """Pixel-level anomaly map of Eq. (12): higher = more anomalous.

        The per-pixel reconstruction loss ρ|x - x̃| + (1-ρ)(1 - (β m_G +
        (1-β) m_L)) at each pixel; in patch mode each pixel averages the
        patches covering it.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Same layout as in ``fit``.

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W), float32
            At the resolution of the input images.
        """
        check_is_fitted(self, "offset_")
        maps = self._map_chunks(self._input_store(X, reset=False), self._map_chunk)
        if maps.shape[-2:] != self.input_shape_[1:]:
            maps = F.interpolate(maps[:, None], size=self.input_shape_[1:], mode="bilinear",
                                 align_corners=False)[:, 0]
        return maps.float().numpy()
