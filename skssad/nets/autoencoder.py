"""Pre-activated residual auto-encoder and critic of IGD.

igd-interpolated-gaussian-descriptor.txt §4.2: encoder f_θ, decoder g_φ and
critic d_ψ each use pre-activated residual blocks (He et al. 2016: batch
norm and ReLU before each of two 3x3 convolutions). For 32x32 inputs the
encoder and critic have 128-256-512 filters, the decoder 256-128-64, and
the latent space d_z = 128 dimensions (Eq. 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["PreActBlock", "ResEncoder", "ResDecoder", "Critic", "IGDNet", "FeatureTeacher",
           "DistillationStudent", "IMAGENET_MEAN", "IMAGENET_STD"]

#: Normalisation of torchvision's ImageNet models (the teacher of Eq. 10, §4.2).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PreActBlock(nn.Module):
    """Pre-activated residual block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut.

    ``resample`` is ``"down"`` (stride 2), ``"up"`` (nearest x2 first) or ``None``.
    """

    def __init__(self, in_channels: int, out_channels: int, resample: str | None = None):
        super().__init__()
        if resample not in (None, "down", "up"):
            raise ValueError(f"resample must be None, 'down' or 'up', got {resample!r}.")
        stride = 2 if resample == "down" else 1
        self.up = nn.Upsample(scale_factor=2, mode="nearest") if resample == "up" else None
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up is not None:
            x = self.up(x)
        out = torch.relu(self.bn1(x))
        # pre-activation: the shortcut also takes the activated input when it projects
        short = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + short


def _check_size(input_size: int, n_blocks: int) -> int:
    side = input_size // 2 ** n_blocks
    if side < 1 or side * 2 ** n_blocks != input_size:
        raise ValueError(f"input_size={input_size} must be divisible by 2**{n_blocks} "
                         f"(one halving per residual block).")
    return side


class ResEncoder(nn.Module):
    """f_θ of Eq. (1): a stem conv, one down-sampling block per width, a linear to d_z.

    ``features(x)`` returns the globally pooled last-block features (512-d
    for the paper's widths), which the distillation of Eq. (10) matches to a
    teacher; ``forward`` projects them and the flattened map to ``latent_dim``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = (128, 256, 512),
                 latent_dim: int = 128, input_size: int = 32):
        super().__init__()
        side = _check_size(input_size, len(widths))
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        chans = [widths[0], *widths]
        self.blocks = nn.Sequential(*[PreActBlock(chans[i], chans[i + 1], "down")
                                      for i in range(len(widths))])
        self.bn = nn.BatchNorm2d(widths[-1])
        self.feature_dim = int(widths[-1])
        self.project = nn.Linear(widths[-1] * side * side, latent_dim)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.blocks(self.stem(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled last-block features ``(n, widths[-1])`` (Eq. 10's student side)."""
        return self.feature_map(x).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.feature_map(x).flatten(1))


class ResDecoder(nn.Module):
    """g_φ of Eq. (1): a linear from d_z, one up-sampling block per width, a sigmoid image."""

    def __init__(self, out_channels: int, widths: Sequence[int] = (256, 128, 64),
                 latent_dim: int = 128, input_size: int = 32):
        super().__init__()
        self.side = _check_size(input_size, len(widths))
        self.first = int(widths[0])
        self.expand = nn.Linear(latent_dim, self.first * self.side * self.side)
        chans = [widths[0], *widths]
        self.blocks = nn.Sequential(*[PreActBlock(chans[i], chans[i + 1], "up")
                                      for i in range(len(widths))])
        self.bn = nn.BatchNorm2d(widths[-1])
        self.out = nn.Conv2d(widths[-1], out_channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.expand(z).view(len(z), self.first, self.side, self.side)
        # images are scaled to [0, 1] by the detector base
        return torch.sigmoid(self.out(torch.relu(self.bn(self.blocks(h)))))


class Critic(nn.Module):
    """d_ψ of Eq. (2): the encoder's structure with a scalar output (the predicted α)."""

    def __init__(self, in_channels: int, widths: Sequence[int] = (128, 256, 512),
                 input_size: int = 32):
        super().__init__()
        self.body = ResEncoder(in_channels, widths, latent_dim=1, input_size=input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


class IGDNet(nn.Module):
    """Encoder, decoder and critic of IGD in one module.

    ``forward(x)`` returns ``(z, x_rec)`` in eval mode. In training mode with
    a critic it also returns the decoded interpolations of Eq. (2), their
    mixing coefficients and the critic's predictions: ``(z, x_rec, x_interp,
    alpha, critic_interp)``, with α ~ U[0, 0.5] (§4.2) drawn from the torch
    RNG and x2 the batch in reversed order.
    """

    def __init__(self, in_channels: int, *, encoder_widths=(128, 256, 512),
                 decoder_widths=(256, 128, 64), latent_dim: int = 128, input_size: int = 32,
                 critic: bool = True):
        super().__init__()
        self.encoder = ResEncoder(in_channels, encoder_widths, latent_dim, input_size)
        self.decoder = ResDecoder(in_channels, decoder_widths, latent_dim, input_size)
        self.critic = Critic(in_channels, encoder_widths, input_size) if critic else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = self.encoder(x)
        x_rec = self.decoder(z)
        if not self.training or self.critic is None:
            return z, x_rec
        alpha = 0.5 * torch.rand(len(x), device=x.device)
        a = alpha.view(-1, 1)
        x_interp = self.decoder(a * z + (1 - a) * z.flip(0))  # Eq. (2)
        return z, x_rec, x_interp, alpha, self.critic(x_interp)


class FeatureTeacher(nn.Module):
    """The teacher of Eq. (10) as a frozen feature extractor: images -> ``(n, d)`` features.

    §4.2 distils "an intermediate layer of a pre-trained ResNet18" (512-d)
    [Bergmann et al. 2020]. The input is normalised as the teacher was trained
    (ImageNet mean / std by default; ``mean=None`` feeds [0, 1] pixels),
    grayscale images are repeated to the teacher's three channels, and the
    output of the named submodule ``layer`` (a forward hook; None = the
    whole module's output) is averaged over its spatial positions.

    Parameters
    ----------
    teacher : torch.nn.Module or callable
        A module, or any callable ``images -> features`` (then ``layer`` must be None).
    layer : str or None, default=None
        Name in ``teacher.named_modules()`` whose output is distilled, e.g. ``"layer4"``.
    mean, std : tuple of float or None, default=ImageNet's
    """

    def __init__(self, teacher, layer: str | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        if not callable(teacher):
            raise ValueError(f"teacher must be a torch module or a callable, got {teacher!r}.")
        modules = dict(teacher.named_modules()) if isinstance(teacher, nn.Module) else {}
        if layer is not None and layer not in modules:
            names = [n for n in modules if n][:12]
            raise ValueError(f"teacher_layer={layer!r} is not a submodule of the teacher; "
                             f"expected one of {names}...")
        self.teacher, self.layer = teacher, layer
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            if x.shape[1] == 1 and self.mean.shape[1] != 1:
                x = x.expand(-1, self.mean.shape[1], -1, -1)
            x = (x - self.mean) / self.std
        if self.layer is None:
            out = self.teacher(x)
        else:
            taken = []
            hook = dict(self.teacher.named_modules())[self.layer].register_forward_hook(
                lambda _m, _i, o: taken.append(o))
            try:
                self.teacher(x)
            finally:
                hook.remove()
            out = taken[0]
        return out.flatten(2).mean(2) if out.ndim > 2 else out.reshape(len(out), -1)


class DistillationStudent(nn.Module):
    """Eq. (10)'s student: the encoder's pooled features, mapped linearly to the teacher's size."""

    def __init__(self, encoder: ResEncoder, teacher_dim: int):
        super().__init__()
        self.encoder = encoder
        dim = encoder.feature_dim
        self.adapt = nn.Identity() if teacher_dim == dim else nn.Linear(dim, teacher_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapt(self.encoder.features(x))
