"""Geometric transformations of MHRot as batched tensor operations.

puzzle-geom-multitask.txt §2.3: three variables are predicted, the 90°
rotation ``r`` in (0, 90, 180, 270), the horizontal translation ``s`` in
(0, -t_x, +t_x) and the vertical translation ``t`` in (0, -t_y, +t_y);
their 4 x 3 x 3 = 36 compositions are scored at inference (Eq. 2).
Translations pad by reflection so no artificial border reveals the shift.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["N_ROTATIONS", "N_TRANSLATIONS", "GEOMETRIC_LABELS", "rotate90", "translate",
           "geometric_transform", "rot90_static", "translated_copies", "all_geometric_views",
           "GeometricTask"]

N_ROTATIONS = 4
N_TRANSLATIONS = 3  # 0, -t, +t
#: (rotation, horizontal, vertical) label of each of the 36 compositions.
GEOMETRIC_LABELS = torch.tensor([(r, s, t) for r in range(N_ROTATIONS)
                                 for s in range(N_TRANSLATIONS)
                                 for t in range(N_TRANSLATIONS)], dtype=torch.long)
_SIGN = (0, -1, 1)


def rotate90(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each image ``x[i]`` by ``k[i] * 90`` degrees counter-clockwise.

    Loops over the four rotation classes, never over samples.
    """
    out = torch.empty_like(x)
    for r in range(N_ROTATIONS):
        idx = (k == r).nonzero(as_tuple=True)[0]
        if len(idx):
            out[idx] = torch.rot90(x[idx], r, dims=(-2, -1))
    return out


def translate(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Shift image ``i`` by ``dx[i]`` columns and ``dy[i]`` rows (reflect padding).

    One gather for the whole batch; ``|dx|, |dy|`` must be smaller than the
    image side.
    """
    b, c, h, w = x.shape
    t = int(max(dx.abs().max().item(), dy.abs().max().item(), 0)) if b else 0
    if t == 0:
        return x.clone()
    mode = "reflect" if t < min(h, w) else "replicate"
    xp = F.pad(x, (t, t, t, t), mode=mode)
    rows = torch.arange(h, device=x.device)[None, :] + t - dy.to(x.device)[:, None]
    cols = torch.arange(w, device=x.device)[None, :] + t - dx.to(x.device)[:, None]
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def geometric_transform(x: torch.Tensor, labels: torch.Tensor, shift: int) -> torch.Tensor:
    """Apply composition ``labels[i] = (r, s, t)`` to image ``x[i]``.

    Translation first (by ``shift`` pixels times -1/0/+1), then rotation.
    """
    labels = labels.to(x.device)
    sign = torch.tensor(_SIGN, device=x.device)
    moved = translate(x, sign[labels[:, 1]] * shift, sign[labels[:, 2]] * shift)
    return rotate90(moved, labels[:, 0])


def rot90_static(x: torch.Tensor, k: int) -> torch.Tensor:
    """``torch.rot90(x, k, dims=(-2, -1))`` for a constant ``k``, from flips and a transpose.

    The same element permutation as ``torch.rot90`` (so bit-identical), in
    operators ONNX has (``aten::rot90`` has no ONNX symbolic).
    """
    k = int(k) % N_ROTATIONS
    if k == 0:
        return x
    if k == 1:
        return x.flip(-1).transpose(-2, -1)
    if k == 2:
        return x.flip(-2).flip(-1)
    return x.flip(-2).transpose(-2, -1)


def translated_copies(x: torch.Tensor, shift: int) -> list[torch.Tensor]:
    """The 3 x 3 translations ``(s, t)`` of every image, by static slicing.

    Entry ``3 s + t`` equals ``translate(x, sign[s] * shift, sign[t] * shift)``
    bit for bit (one reflect padding by ``shift``, then fixed windows), with
    no data-dependent indexing, so the graph traces and exports (ONNX) with
    constant shapes.
    """
    h, w = x.shape[-2:]
    if shift == 0:
        return [x.clone() for _ in range(N_TRANSLATIONS * N_TRANSLATIONS)]
    mode = "reflect" if shift < min(h, w) else "replicate"
    xp = F.pad(x, (shift, shift, shift, shift), mode=mode)
    out = []
    for s in range(N_TRANSLATIONS):
        for t in range(N_TRANSLATIONS):
            dx, dy = _SIGN[s] * shift, _SIGN[t] * shift
            # output pixel (i, j) is padded pixel (i + shift - dy, j + shift - dx)
            out.append(xp[..., shift - dy:shift - dy + h, shift - dx:shift - dx + w])
    return out


def all_geometric_views(x: torch.Tensor, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All 36 transformed copies of every image, sample-major.

    Returns ``views`` of shape ``(b * 36, C, H, W)`` (the 36 views of sample
    ``i`` at rows ``36 i ... 36 i + 35``, in the order of
    ``GEOMETRIC_LABELS``) and their labels ``(b * 36, 3)``. The same values
    as ``geometric_transform`` on every label, but by static slicing and
    :func:`rot90_static` with constant ``k`` (no ``nonzero``), so scoring exports
    to ONNX and TorchScript.
    """
    b = len(x)
    labels = GEOMETRIC_LABELS.to(x.device).repeat(b, 1)
    moved = translated_copies(x, int(shift))
    views = [rot90_static(moved[N_TRANSLATIONS * s + t], r)
             for r, s, t in GEOMETRIC_LABELS.tolist()]
    return torch.stack(views, 1).flatten(0, 1), labels


class GeometricTask:
    """MHRot's pretext hook: each image becomes ``n_views`` random compositions (r, s, t).

    Returns the transformed views and their ``(rotation, horizontal,
    vertical)`` labels. ``chance_loss`` is the summed cross-entropy of the
    three heads for a model that knows nothing: log 4 + 2 log 3.
    """

    chance_loss = math.log(N_ROTATIONS) + 2 * math.log(N_TRANSLATIONS)

    def __init__(self, shift: int, n_views: int):
        self.shift = int(shift)
        self.n_views = int(n_views)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = len(x)
        pick = torch.randint(len(GEOMETRIC_LABELS), (b * self.n_views,))
        labels = GEOMETRIC_LABELS[pick].to(x.device)
        views = geometric_transform(x.repeat_interleave(self.n_views, 0), labels, self.shift)
        return views, labels
