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

__all__ = ["PreActBlock", "ResEncoder", "ResDecoder", "Critic", "IGDNet"]


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
    """Encoder, decoder and critic of IGD in one module, plus the descriptor's state.

    ``forward(x)`` returns ``(z, x_rec)``. The buffers ``center`` (μ_γ, or
    the Deep SVDD centre), ``var`` (σ²_γ) and ``radius2`` (the soft-boundary
    Deep SVDD's R²) hold the E-step's estimates of Eq. (7), so they follow
    the module across devices and pickling.
    """

    def __init__(self, in_channels: int, *, encoder_widths=(128, 256, 512),
                 decoder_widths=(256, 128, 64), latent_dim: int = 128, input_size: int = 32,
                 critic: bool = True):
        super().__init__()
        self.encoder = ResEncoder(in_channels, encoder_widths, latent_dim, input_size)
        self.decoder = ResDecoder(in_channels, decoder_widths, latent_dim, input_size)
        self.critic = Critic(in_channels, encoder_widths, input_size) if critic else None
        self.register_buffer("center", torch.zeros(latent_dim))
        self.register_buffer("var", torch.ones(()))
        self.register_buffer("radius2", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.decoder(z)
