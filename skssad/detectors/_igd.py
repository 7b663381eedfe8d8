"""IGDDetector: interpolated Gaussian descriptor with glocal MS-SSIM.

igd-interpolated-gaussian-descriptor.txt §3, §4.2. An auto-encoder
(Eq. 1) of pre-activated residual blocks is trained on normal images with
the glocal MS-SSIM + MAE reconstruction loss (Eq. 8-9), an ACAI critic that
regularises interpolations of embeddings (Eq. 2, 5, 6) and a Gaussian SVDD
on the embeddings (Eq. 7) fitted by EM. The anomaly score is Eq. (11), the
pixel-level anomaly map Eq. (12).
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, LRScheduler
from skorch.dataset import unpack_data
from torch import nn

from ..base import BaseDetector, Interval, StrOptions, padded_chunks
from ..losses import (
    acai_autoencoder_penalty,
    acai_critic_loss,
    acai_interpolate,
    deep_svdd_loss,
    gaussian_svdd_estep,
    gaussian_svdd_loss,
    glocal_reconstruction_loss,
    glocal_reconstruction_map,
)
from ..losses._reconstruction import deep_svdd_center, deep_svdd_radius
from ..nets import IGDNet
from ..training import PretextNet, build_pretext_net

__all__ = ["IGDDetector", "IGDObjective", "IGDTrainingNet", "DescriptorEStep",
           "overlay_anomaly_map"]


#: Patches per forward pass in :meth:`IGDDetector.anomaly_map`.
_MAP_PATCHES = 1024


class IGDObjective(nn.Module):
    """Hyper-parameters and per-sample terms of Eq. (4), (8) and (11).

    Used as the skorch criterion of :class:`IGDTrainingNet`; holds no weights.
    """

    def __init__(self, *, descriptor="gsvdd", rho=0.15, beta=0.5, lam=0.1, gamma=0.2,
                 win_size=5, nu=0.1):
        super().__init__()
        self.descriptor = descriptor
        self.nu = nu
        self.rho = rho
        self.beta = beta
        self.lam = lam
        self.gamma = gamma
        self.win_size = win_size

    def reconstruction(self, x, x_rec):
        """ℓ_m of Eq. (8) per sample."""
        return glocal_reconstruction_loss(x, x_rec, rho=self.rho, beta=self.beta,
                                          win_size=self.win_size)

    def reconstruction_map(self, x, x_rec):
        """ℓ_m of Eq. (12) per pixel."""
        return glocal_reconstruction_map(x, x_rec, rho=self.rho, beta=self.beta,
                                         win_size=self.win_size)

    def descriptor_loss(self, z, module):
        """Training term: ℓ_h of Eq. (7) (Gaussian SVDD), the soft-boundary Deep SVDD, or 0."""
        if self.descriptor == "gsvdd":
            return gaussian_svdd_loss(z, module.center, module.var)
        if self.descriptor == "dsvdd":
            return deep_svdd_loss(z, module.center, module.radius2, self.nu)
        return z.new_zeros(len(z))

    def descriptor_score(self, z, module):
        """ℓ_h in the score of Eq. (11): Eq. (7), or Deep SVDD's ‖z - c‖² - R², or 0."""
        if self.descriptor == "dsvdd":
            return deep_svdd_loss(z, module.center) - module.radius2
        return self.descriptor_loss(z, module)


class IGDTrainingNet(PretextNet):
    """The M-step of Eq. (4): the auto-encoder and the critic, each with its optimizer.

    ``optimizer_`` updates θ and φ against Eq. (6) + (7); ``critic_optimizer_``
    (same class and settings) updates ψ against Eq. (5). skorch zeroes and
    steps both around :meth:`train_step_single`.
    """

    def initialize_optimizer(self, *args, **kwargs):
        named = [(n, p) for n, p in self.module_.named_parameters()
                 if not n.startswith("critic.")]
        args_, kwargs_ = self.get_params_for_optimizer("optimizer", named)
        self.optimizer_ = self.optimizer(*args_, **kwargs_)
        if self.module_.critic is not None:
            args_, kwargs_ = self.get_params_for_optimizer(
                "optimizer", self.module_.critic.named_parameters())
            self.critic_optimizer_ = self.optimizer(*args_, **kwargs_)
        return self

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        x, _ = unpack_data(batch)
        module, obj = self.module_, self.criterion_
        z, x_rec = module(x)
        # Eq. (6) first term + Eq. (7)
        per_sample = obj.reconstruction(x, x_rec) + obj.descriptor_loss(z, module)
        loss = per_sample.mean()
        if module.critic is not None:
            # Eq. (2): α ~ U[0, 0.5], x2 = the batch in reversed order
            alpha = 0.5 * torch.rand(len(x), device=x.device)
            x_interp = module.decoder(acai_interpolate(z, alpha))
            loss = loss + obj.lam * acai_autoencoder_penalty(module.critic, x_interp).mean()
        loss.backward()
        if module.critic is not None:
            # the penalty of Eq. (6) must not train the critic: drop its gradients
            self.critic_optimizer_.zero_grad()
            critic_loss = acai_critic_loss(module.critic, x, x_rec, x_interp, alpha,
                                           gamma=obj.gamma)
            critic_loss.backward()
            self.history.record_batch("critic_loss", float(critic_loss.item()))
        return {"loss": loss, "y_pred": x_rec}


def _embed(module, X: torch.Tensor, batch: int = 256) -> torch.Tensor:
    was_training = module.training
    module.eval()
    with torch.no_grad():
        z = torch.cat([module.encoder(X[i:i + batch]) for i in range(0, len(X), batch)])
    module.train(was_training)
    return z


class DescriptorEStep(Callback):
    """E-step of Eq. (7) at every epoch start and after training (§3.1, §3.3).

    Gaussian SVDD: μ_γ and σ²_γ = max(κ · mean ‖f(x) - μ‖², min_var) from the
    encoder's embeddings of the whole training set. Soft-boundary Deep SVDD
    (Table 5): the centre c is fixed once from the initial embeddings, R² is
    re-fitted as the (1 - ν)-quantile of ‖f(x) - c‖² (Ruff et al. 2018).
    """

    def __init__(self, descriptor="gsvdd", kappa=0.5, min_var=1.0, nu=0.1):
        self.descriptor = descriptor
        self.kappa = kappa
        self.min_var = min_var
        self.nu = nu

    def _estep(self, net, X, first=False):
        module = net.module_
        z = _embed(module, X)
        if self.descriptor == "gsvdd":
            mu, var = gaussian_svdd_estep(z, kappa=self.kappa, min_var=self.min_var)
            module.center.copy_(mu)
            module.var.fill_(var)
        elif first:
            module.center.copy_(deep_svdd_center(z))
            module.radius2.zero_()
        else:
            module.radius2.fill_(deep_svdd_radius(z, module.center, self.nu))

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.descriptor is not None:
            self._estep(net, dataset_train.X, first=len(net.history) <= 1)

    def on_train_end(self, net, X=None, **kwargs):
        if self.descriptor is not None:
            self._estep(net, X)


class _CriticLR(Callback):
    """The critic's optimizer follows the auto-encoder's learning-rate schedule (§4.2)."""

    def on_epoch_begin(self, net, **kwargs):
        critic_opt = getattr(net, "critic_optimizer_", None)
        if critic_opt is not None:
            lr = net.optimizer_.param_groups[0]["lr"]
            for group in critic_opt.param_groups:
                group["lr"] = lr


def _poly_schedule(max_epochs: int, power: float = 0.9):
    # §4.2: the learning rate decays to 0 with a polynomial over the epochs
    return LRScheduler(policy=torch.optim.lr_scheduler.PolynomialLR,
                       total_iters=int(max_epochs) + 1, power=power)


def _with_poly_lr(net, max_epochs):
    net.callbacks = [("poly_lr", _poly_schedule(max_epochs)) if name == "lr_schedule"
                     else (name, cb) for name, cb in net.callbacks]
    return net


class _Student(nn.Module):
    """Eq. (10)'s student: the encoder's pooled features, mapped to the teacher's size."""

    def __init__(self, encoder, teacher_dim):
        super().__init__()
        self.encoder = encoder
        dim = encoder.feature_dim
        self.adapt = nn.Identity() if teacher_dim == dim else nn.Linear(dim, teacher_dim)

    def forward(self, x):
        return self.adapt(self.encoder.features(x))


def _teacher_input(teacher: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # grayscale images meet an RGB teacher (e.g. a ResNet-18) as three equal channels
    first = next((m for m in teacher.modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None and first.in_channels != x.shape[1] and x.shape[1] == 1:
        return x.expand(-1, first.in_channels, -1, -1)
    return x


class IGDDetector(BaseDetector):
    """Anomaly detection with an interpolated Gaussian descriptor (IGD) and glocal MS-SSIM.

    An auto-encoder f/g (Eq. 1) with pre-activated residual blocks learns to
    reconstruct normal images under the loss of Eq. (8): ρ·MAE + (1-ρ)·(1 -
    (β m_G + (1-β) m_L)), with a 5-scale whole-image MS-SSIM m_G and a
    4-scale local (per-pixel window) MS-SSIM m_L (Eq. 9). An ACAI critic d_ψ
    predicts the mixing coefficient α of decoded interpolations between
    embeddings (Eq. 2, 5); the auto-encoder learns to fool it (Eq. 6), which
    fills the gaps between training samples in the latent space. A Gaussian
    SVDD (Eq. 7) pulls the embeddings towards μ_γ; μ_γ and σ²_γ are
    re-estimated at every epoch (E-step) and the networks trained against
    them (M-step). Optionally the encoder is first distilled from a teacher
    network (Eq. 10). The anomaly score is Eq. (11), ξ ℓ_m + (1-ξ) ℓ_h,
    returned with its sign flipped (higher = more normal); images larger
    than the model input (``input_size=None``) are cut into patches and
    scored by their worst patch. :meth:`anomaly_map` gives Eq. (12) per pixel.

    Parameters
    ----------
    encoder_widths : tuple of int, default=(128, 256, 512)
        Filters of the encoder's (and critic's) residual blocks; each block
        halves the resolution (§4.2).
    decoder_widths : tuple of int, default=(256, 128, 64)
        Filters of the decoder's residual blocks; each doubles the resolution.
        Must have as many entries as ``encoder_widths``.
    latent_dim : int, default=128
        d_z, the embedding size (§4.2).
    descriptor : {"gsvdd", "dsvdd"} or None, default="gsvdd"
        One-class descriptor on the embeddings: Gaussian SVDD (Eq. 7), the
        soft-boundary Deep SVDD of Ruff et al. (Table 5's alternative; its
        score term is ‖z - c‖² - R²) or none (reconstruction only).
    interpolation : bool, default=True
        Train the ACAI critic and its interpolation penalty (Eq. 2, 5, 6).
    rho : float, default=0.15
        Weight ρ of the MAE in Eq. (8).
    beta : float, default=0.5
        Weight β of the global MS-SSIM against the local one in Eq. (8).
    xi : float, default=0.5
        Weight ξ of the reconstruction loss in the score of Eq. (11).
    lam : float, default=0.1
        Weight λ of the critic penalty in Eq. (6).
    gamma : float, default=0.2
        ζ-regulariser of the critic loss, Eq. (5).
    kappa : float, default=0.5
        κ of the variance estimate in Eq. (7).
    min_var : float, default=1.0
        Lower bound of σ²_γ (§4.2).
    nu : float, default=0.1
        ν of the soft-boundary Deep SVDD (``descriptor="dsvdd"``, Table 5):
        R² is the (1 - ν)-quantile of the training distances.
    win_size : int, default=5
        Odd Gaussian window (σ = 1.5) of the MS-SSIM.
    patch_size : int, default=32
        Model input side when ``input_size=None`` and the images are larger.
    patch_stride : int, default=16
        Stride between patches, in training and in ``score_samples``.
    map_stride : int or None, default=None
        Stride between patches in :meth:`anomaly_map` (patch mode only);
        None uses ``patch_stride``. A pixel's map averages the patches
        covering it; Eq. (12) centres a patch on every pixel (stride 1), so
        a smaller stride is closer to the paper and costs
        ``(patch_stride / map_stride)²`` times more patches (grass texture,
        stride 4 instead of 16: per-image pixel AUROC 0.58 -> 0.67,
        ``benchmarks/results/igd_texture.md``).
    teacher : torch.nn.Module or None, default=None
        Optional pre-trained network whose (pooled) features the encoder's
        pooled features learn to match before training (Eq. 10); the
        encoder's convolutional trunk is then frozen (§4.2). Never downloaded.
    teacher_epochs : int, default=10
        Epochs of distillation (Adam, lr 1e-4, weight decay 1e-5,
        polynomial decay, §4.2).
    input_size : int or None, default=32
        Images are resized to ``input_size x input_size``; ``None`` keeps
        their resolution and cuts patches of ``patch_size`` when larger.
    image_shape : tuple or None, default=None
        ``(H, W)`` or ``(H, W, C)`` of flattened 2-D input; inferred if None.
    contamination : float, default=0.1
        Share of training samples below ``offset_``.
    max_epochs : int, default=128
        §4.2 (MNIST, Fashion-MNIST, CIFAR-10).
    batch_size : int, default=64
    lr : float, default=1e-4
    optimizer : {"sgd", "adam"} or torch optimizer class, default="adam"
        Adam, with the learning rate decayed to 0 by a polynomial (§4.2).
    weight_decay : float, default=1e-6
    callbacks : list or None, default=None
        Extra skorch callbacks.
    verbose : int, default=0
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
        Fixes weights, shuffling and the interpolation coefficients.

    Attributes
    ----------
    net_ : IGDTrainingNet
        The fitted skorch net; ``net_.module_`` is an :class:`~skssad.nets.IGDNet`
        whose buffers ``center`` and ``var`` hold μ_γ and σ²_γ;
        ``net_.history`` has ``train_loss`` and per-batch ``critic_loss``.
    model_size_ : int
        Side of the model's input (the patch side in patch mode).
    patch_mode_ : bool
        Whether images are scored by patches.
    offset_ : float
    device_ : str
    input_shape_ : tuple
    n_features_in_ : int

    See Also
    --------
    overlay_anomaly_map : draw an :meth:`anomaly_map` over its image.
    GeometricTransformDetector : self-supervised classification instead of reconstruction.

    Notes
    -----
    One auto-encoder serves both terms of Eq. (8): m_G is the 5-scale
    MS-SSIM of the whole model input, m_L the 4-scale MS-SSIM of the window
    around each pixel, averaged (the paper trains a separate 256x256
    global model for MVTec AD, §4.2, and uses the global term alone on
    MNIST / CIFAR-10, footnote 1: ``beta=1``). MS-SSIM is computed by the
    direct implementation in :mod:`skssad.losses` (checked against
    ``pytorch_msssim`` in the tests), because ``pytorch_msssim`` refuses
    inputs of 32 pixels or less and has no per-pixel map. Images are in
    [0, 1], so the MS-SSIM constants use L = 1 rather than the paper's
    ImageNet-normalised range 4.7579. The E-step runs before every epoch
    (the reference code re-estimates every 10 epochs). The critic has its
    own Adam optimizer on the same polynomial schedule. Knowledge
    distillation (Eq. 10) runs only when a ``teacher`` is given.

    References
    ----------
    .. [1] Chen, Tian, Pang, Carneiro, "Deep one-class classification via
       interpolated Gaussian descriptor", AAAI 2022.

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
        "win_size": [Interval(Integral, 1, None, closed="left")],
        "patch_size": [Interval(Integral, 4, None, closed="left")],
        "patch_stride": [Interval(Integral, 1, None, closed="left")],
        "map_stride": [Interval(Integral, 1, None, closed="left"), None],
        "teacher": [nn.Module, None],
        "teacher_epochs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, encoder_widths=(128, 256, 512), decoder_widths=(256, 128, 64),
                 latent_dim=128, descriptor="gsvdd", interpolation=True, rho=0.15, beta=0.5,
                 xi=0.5, lam=0.1, gamma=0.2, kappa=0.5, min_var=1.0, nu=0.1, win_size=5,
                 patch_size=32, patch_stride=16, map_stride=None, teacher=None,
                 teacher_epochs=10, input_size=32, image_shape=None, contamination=0.1,
                 max_epochs=128, batch_size=64, lr=1e-4, optimizer="adam", weight_decay=1e-6,
                 callbacks=None, verbose=0, device="auto", random_state=None):
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
        self.win_size = win_size
        self.patch_size = patch_size
        self.patch_stride = patch_stride
        self.map_stride = map_stride
        self.teacher = teacher
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
        self.random_state = random_state

    # ------------------------------------------------------------------ patches
    def _positions(self, length: int, stride: int | None = None) -> list[int]:
        p, s = self.model_size_, stride or self.patch_stride
        starts = list(range(0, length - p + 1, s))
        if starts[-1] != length - p:  # cover the last rows / columns too
            starts.append(length - p)
        return starts

    def _patches(self, X: torch.Tensor, stride: int | None = None) -> torch.Tensor:
        """``(b, C, H, W)`` -> ``(b * P, C, p, p)``; the identity outside patch mode."""
        if not self.patch_mode_:
            return X
        p = self.model_size_
        cuts = [X[:, :, i:i + p, j:j + p] for i in self._positions(X.shape[2], stride)
                for j in self._positions(X.shape[3], stride)]
        return torch.stack(cuts, 1).flatten(0, 1)

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
        if len(self.encoder_widths) != len(self.decoder_widths):
            raise ValueError(f"encoder_widths {tuple(self.encoder_widths)} and decoder_widths "
                             f"{tuple(self.decoder_widths)} must have the same length.")
        if self.win_size % 2 == 0:
            raise ValueError(f"win_size must be odd, got {self.win_size}.")
        _, c, h, w = X.shape
        self.patch_mode_ = self.input_size is None and max(h, w) > self.patch_size
        if self.patch_mode_:
            if min(h, w) < self.patch_size:
                raise ValueError(f"Images of {h}x{w} pixels are smaller than "
                                 f"patch_size={self.patch_size} on one side.")
            self.model_size_ = int(self.patch_size)
        elif h != w:
            raise ValueError(f"IGDDetector needs square images or input_size set; got {h}x{w}.")
        else:
            self.model_size_ = int(h)
        module = IGDNet(c, encoder_widths=tuple(self.encoder_widths),
                        decoder_widths=tuple(self.decoder_widths), latent_dim=self.latent_dim,
                        input_size=self.model_size_, critic=self.interpolation)
        X_train = self._patches(X)
        if self.teacher is not None:
            self._distill(module.encoder, X_train)
        objective = IGDObjective(descriptor=self.descriptor, rho=self.rho, beta=self.beta,
                                 lam=self.lam, gamma=self.gamma, win_size=self.win_size,
                                 nu=self.nu)
        extra = {}
        if len(X_train) % self.batch_size == 1:
            # batch norm cannot train on a last batch of one sample
            extra["iterator_train__drop_last"] = True
        cbs = [("descriptor_estep", DescriptorEStep(self.descriptor, self.kappa, self.min_var,
                                                    self.nu)),
               ("critic_lr", _CriticLR()), *self._net_callbacks("net")]
        self.net_ = self._make_net("net", module, objective, None, net_class=IGDTrainingNet,
                                   callbacks=cbs, **extra)
        _with_poly_lr(self.net_, self.max_epochs)
        self.net_.fit(X_train, None)

    def _distill(self, encoder, X):
        """Eq. (10): match the teacher's features, then freeze the encoder's trunk (§4.2)."""
        teacher = copy.deepcopy(self.teacher).to(self.device_).eval()
        with torch.no_grad():
            targets = []
            for i in range(0, len(X), 256):
                t = teacher(_teacher_input(teacher, X[i:i + 256]))
                targets.append(t.flatten(2).mean(2) if t.ndim > 2 else t.reshape(len(t), -1))
            targets = torch.cat(targets).float()
        student = _Student(encoder, targets.shape[1])
        net = build_pretext_net(student, nn.MSELoss, task=None, max_epochs=self.teacher_epochs,
                                batch_size=self.batch_size, lr=1e-4, optimizer="adam",
                                weight_decay=1e-5, verbose=self.verbose, device=self.device_)
        _with_poly_lr(net, self.teacher_epochs)
        net.fit(X, targets)
        self.distill_loss_ = float(net.history[-1, "train_loss"])
        for part in (encoder.stem, encoder.blocks, encoder.bn):
            part.requires_grad_(False)

    # ------------------------------------------------------------------ scoring
    def _anomaly(self, patches):
        """Eq. (11) per patch, and the parts needed by Eq. (12)."""
        module, obj = self.net_.module_, self.net_.criterion_
        z, x_rec = module(patches)
        l_h = obj.descriptor_score(z, module)
        xi = self.xi if self.descriptor is not None else 1.0
        return z, x_rec, xi, l_h

    def _score_chunk(self, X):
        patches = self._patches(X)
        _, x_rec, xi, l_h = self._anomaly(patches)
        s = xi * self.net_.criterion_.reconstruction(patches, x_rec) + (1 - xi) * l_h
        # image score = its most anomalous patch; sign flipped: higher = more normal
        return -s.view(len(X), -1).amax(1)

    def _map_chunk(self, X):
        stride = self.map_stride
        patches = self._patches(X, stride)
        maps = []
        # dense strides give many patches: fixed-size pieces bound the memory
        for start in range(0, len(patches), _MAP_PATCHES):
            piece = patches[start:start + _MAP_PATCHES]
            _, x_rec, xi, l_h = self._anomaly(piece)
            # Eq. (12) at every pixel, plus the patch's descriptor term of Eq. (11)
            maps.append(xi * self.net_.criterion_.reconstruction_map(piece, x_rec)
                        + (1 - xi) * l_h.view(-1, 1, 1))
        m = torch.cat(maps)
        if not self.patch_mode_:
            return m
        return self._merge_patches(m.view(len(X), -1, *m.shape[1:]), X.shape[2:], stride)

    def _merge_patches(self, m: torch.Tensor, size, stride: int | None = None) -> torch.Tensor:
        """Per-patch maps ``(b, P, p, p)`` -> ``(b, H, W)``: each pixel averages its patches."""
        (h, w), p = size, self.model_size_
        total, count = m.new_zeros(len(m), h, w), m.new_zeros(1, h, w)
        k = 0
        for i in self._positions(h, stride):
            for j in self._positions(w, stride):
                total[:, i:i + p, j:j + p] += m[:, k]
                count[:, i:i + p, j:j + p] += 1
                k += 1
        return total / count

    def anomaly_map(self, X) -> np.ndarray:
        """Pixel-level anomaly map of Eq. (12): higher = more anomalous.

        ξ times the per-pixel reconstruction loss of Eq. (12) plus (1-ξ)
        times the descriptor loss of the image (or of each patch, averaged
        over the patches covering a pixel).

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
        T = self._as_tensor(X, reset=False)
        self._eval_mode()
        out = []
        with torch.no_grad():
            for chunk, b in padded_chunks(T):  # fixed-size chunks: batch-independent maps
                m = self._map_chunk(chunk)[:b]
                if m.shape[-2:] != self.input_shape_[1:]:
                    m = F.interpolate(m[:, None], size=self.input_shape_[1:], mode="bilinear",
                                      align_corners=False)[:, 0]
                out.append(m.float().cpu())
        return torch.cat(out).numpy()


def _heat(t: np.ndarray) -> np.ndarray:
    """Black-red-yellow-white colour ramp of values in [0, 1]: ``(..., 3)``."""
    return np.clip(np.stack([3 * t, 3 * t - 1, 3 * t - 2], -1), 0, 1)


def overlay_anomaly_map(image, anomaly_map, *, alpha: float = 0.5, vmin=None, vmax=None,
                        cmap=None) -> np.ndarray:
    """Blend an anomaly map (e.g. from :meth:`IGDDetector.anomaly_map`) over its image.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, C)
        Grayscale or RGB(A) image; uint8 is divided by 255, floats are
        min-max scaled to [0, 1].
    anomaly_map : array-like of shape (H, W)
        Higher = more anomalous (the Eq. 12 map of one image).
    alpha : float, default=0.5
        Opacity of the coloured map.
    vmin, vmax : float or None
        Map values shown as the coldest and hottest colour; default the
        map's own minimum and maximum (pass fixed values to compare images).
    cmap : callable or str or None
        ``cmap(values in [0, 1]) -> (..., 3 or 4)`` colours, or a matplotlib
        colormap name (needs matplotlib); None uses a built-in black-red-
        yellow-white ramp.

    Returns
    -------
    overlay : ndarray of shape (H, W, 3), float in [0, 1]
        Ready for ``plt.imshow`` or ``skimage.io.imsave``.
    """
    img = np.asarray(image)
    amap = np.asarray(anomaly_map, dtype=np.float64)
    if img.ndim not in (2, 3) or amap.shape != img.shape[:2]:
        raise ValueError(f"Expected an image (H, W) or (H, W, C) and a map (H, W) of the same "
                         f"size; got {img.shape} and {amap.shape}.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    if img.dtype == np.uint8:
        img = img / 255.0
    else:
        img = img.astype(np.float64)
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    rgb = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, -1)
    lo = amap.min() if vmin is None else vmin
    hi = amap.max() if vmax is None else vmax
    t = np.clip((amap - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(amap)
    if cmap is None:
        colours = _heat(t)
    else:
        if isinstance(cmap, str):
            import matplotlib

            cmap = matplotlib.colormaps[cmap]
        colours = np.asarray(cmap(t), dtype=np.float64)[..., :3]
    return (1 - alpha) * rgb + alpha * colours
