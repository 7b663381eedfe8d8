"""Jigsaw puzzle transforms as batched tensor operations.

puzzle-tint-color-multicue.txt §III-A: an image is cut into
``n = n_h x n_w`` pieces separated by a margin of half a piece (§VI-B), each
taken at a random offset inside its cell during training (centred at
inference), and the pieces are reassembled in a shuffled order. In the
piece-wise puzzle the network predicts the original position of every piece
(``n^2`` outputs, Eq. 7); in the partial puzzle (puzzle-geom-multitask.txt
§3.2) it predicts which of ``k`` fixed permutations was applied.

Convention: a permutation ``perm`` of shape ``(b, n)`` puts source piece
``perm[:, s]`` into slot ``s`` of the shuffled image, so ``perm[:, s]`` is
also the target of slot ``s``. Tiles move by index gathers only.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from .color import tint_rotation
from .geometric import GEOMETRIC_LABELS, geometric_transform

__all__ = ["PieceLayout", "piece_layout", "cut_pieces", "shuffle_pieces", "piece_wise_puzzle",
           "inverse_permutation", "random_permutations", "random_offsets",
           "draw_permutations", "piece_map", "piece_means", "views_per_epoch",
           "slots_to_pieces", "intra_piece_tint_errors", "PuzzleTintTask",
           "fixed_puzzle_views"]


class PieceLayout:
    """Geometry of the puzzle: cells of ``cell`` pixels, pieces of ``piece`` pixels.

    A piece plus a margin of half a piece fills a cell (§VI-B), so the
    piece side is ``round(2 * cell / 3)``; ``slack = cell - piece`` is the
    range of the random offset.
    """

    def __init__(self, height: int, width: int, n_h: int, n_w: int):
        self.n_h, self.n_w = int(n_h), int(n_w)
        self.cell = (height // self.n_h, width // self.n_w)
        self.piece = tuple(max(1, round(2 * c / 3)) for c in self.cell)
        if min(self.cell) < 1:
            raise ValueError(f"Images of {height}x{width} pixels cannot be cut into "
                             f"{n_h}x{n_w} puzzle pieces; use a larger input_size or a "
                             "smaller n.")
        self.slack = tuple(c - p for c, p in zip(self.cell, self.piece, strict=True))

    @property
    def n(self) -> int:
        """Number of pieces."""
        return self.n_h * self.n_w

    @property
    def canvas(self) -> tuple[int, int]:
        """``(H, W)`` of the reassembled puzzle image."""
        return self.n_h * self.piece[0], self.n_w * self.piece[1]


def piece_layout(height: int, width: int, n_h: int, n_w: int) -> PieceLayout:
    """The :class:`PieceLayout` of an image of ``height x width`` cut into ``n_h x n_w``."""
    return PieceLayout(height, width, n_h, n_w)


def random_offsets(b: int, layout: PieceLayout, device=None) -> torch.Tensor:
    """Random offsets ``(b, n, 2)`` of every piece inside its cell (training)."""
    hi = torch.tensor([s + 1 for s in layout.slack], device=device)
    return (torch.rand(b, layout.n, 2, device=device) * hi).long()


def cut_pieces(x: torch.Tensor, layout: PieceLayout,
               offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Cut the pieces of ``x`` and reassemble them in their original order.

    ``offsets`` ``(b, n, 2)`` places each piece in its cell; ``None`` centres
    them. Returns the unshuffled puzzle image ``(b, C, n_h p_h, n_w p_w)``,
    without the margins (so no continuous edge gives the order away).
    """
    b, c = x.shape[:2]
    dev = x.device
    (ch, cw), (ph, pw) = layout.cell, layout.piece
    if offsets is None:
        offsets = torch.tensor([s // 2 for s in layout.slack], device=dev).expand(b, layout.n, 2)
    offsets = offsets.to(dev).view(b, layout.n_h, layout.n_w, 2)
    top = torch.arange(layout.n_h, device=dev)[None, :, None] * ch + offsets[..., 0]
    left = torch.arange(layout.n_w, device=dev)[None, None, :] * cw + offsets[..., 1]
    rows = top[..., None] + torch.arange(ph, device=dev)  # (b, n_h, n_w, ph)
    cols = left[..., None] + torch.arange(pw, device=dev)  # (b, n_h, n_w, pw)
    bi = torch.arange(b, device=dev)[:, None, None, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None, None, None]
    tiles = x[bi, ci, rows[:, None, :, :, :, None], cols[:, None, :, :, None, :]]
    # (b, C, n_h, n_w, ph, pw) -> (b, C, n_h ph, n_w pw)
    return tiles.permute(0, 1, 2, 4, 3, 5).reshape(b, c, layout.n_h * ph, layout.n_w * pw)


def _tiles(canvas: torch.Tensor, layout: PieceLayout) -> torch.Tensor:
    b, c = canvas.shape[:2]
    ph, pw = layout.piece
    t = canvas.reshape(b, c, layout.n_h, ph, layout.n_w, pw).permute(0, 1, 2, 4, 3, 5)
    return t.reshape(b, c, layout.n, ph, pw)


def _untile(tiles: torch.Tensor, layout: PieceLayout) -> torch.Tensor:
    b, c = tiles.shape[:2]
    ph, pw = layout.piece
    t = tiles.reshape(b, c, layout.n_h, layout.n_w, ph, pw).permute(0, 1, 2, 4, 3, 5)
    return t.reshape(b, c, layout.n_h * ph, layout.n_w * pw)


def shuffle_pieces(canvas: torch.Tensor, perm: torch.Tensor, layout: PieceLayout) -> torch.Tensor:
    """Put piece ``perm[i, s]`` of ``canvas[i]`` into slot ``s`` (one gather)."""
    if perm.shape != (len(canvas), layout.n):
        raise ValueError(f"perm must have shape (b, n)=({len(canvas)}, {layout.n}); "
                         f"got {tuple(perm.shape)}.")
    tiles = _tiles(canvas, layout)
    idx = perm.to(canvas.device)[:, None, :, None, None].expand(-1, tiles.shape[1], -1,
                                                                *tiles.shape[-2:])
    return _untile(tiles.gather(2, idx), layout)


def piece_wise_puzzle(x: torch.Tensor, perm: torch.Tensor, layout: PieceLayout,
                      offsets: torch.Tensor | None = None) -> torch.Tensor:
    """§III-A, Fig. 4: cut ``x`` into pieces and reassemble them shuffled by ``perm``."""
    return shuffle_pieces(cut_pieces(x, layout, offsets), perm, layout)


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    """Row-wise inverse: ``shuffle(shuffle(c, p), inverse(p)) == c``."""
    return perm.argsort(-1)


def random_permutations(b: int, n: int, device=None) -> torch.Tensor:
    """``b`` uniformly random permutations of ``n`` pieces, ``(b, n)``."""
    return torch.rand(b, n, device=device).argsort(1)


def piece_map(values: torch.Tensor, layout: PieceLayout) -> torch.Tensor:
    """Broadcast per-slot ``values`` ``(b, n)`` to a pixel map ``(b, H, W)`` of the canvas."""
    b = len(values)
    ph, pw = layout.piece
    grid = values.reshape(b, layout.n_h, layout.n_w)
    return grid.repeat_interleave(ph, 1).repeat_interleave(pw, 2)


def draw_permutations(n: int, k: int, random_state: np.random.RandomState) -> np.ndarray:
    """``k`` distinct permutations of ``n`` pieces, the identity first (``(k, n)``).

    The fixed set tested at inference (§III-A; the ``k`` classes of the
    partial puzzle). ``k`` must not exceed ``n!``.
    """
    total = math.factorial(n)
    if k > total:
        raise ValueError(f"k={k} permutations requested but {n} pieces have only {total}.")
    identity = tuple(range(n))
    if total <= 5040:
        others = [p for p in itertools.permutations(range(n)) if p != identity]
        pick = random_state.choice(len(others), k - 1, replace=False)
        rows = [identity] + [others[i] for i in sorted(pick)]
    else:
        seen, rows = {identity}, [identity]
        while len(rows) < k:
            p = tuple(int(v) for v in random_state.permutation(n))
            if p not in seen:
                seen.add(p)
                rows.append(p)
    return np.asarray(rows, dtype=np.int64)


def views_per_epoch(n: int, n_train: int, epochs: int, k: int) -> int:
    """Eq. (8): ``k' = n! / (N_train * ep)`` permutations per image and epoch, in [1, k]."""
    kp = math.factorial(n) / max(n_train * epochs, 1)
    return int(min(max(round(kp), 1), k))


def piece_means(values: torch.Tensor, layout: PieceLayout) -> torch.Tensor:
    """Mean of ``values`` ``(b, C, H, W)`` over each piece of the canvas, ``(b, n)``."""
    return _tiles(values, layout).mean((1, 3, 4))


def slots_to_pieces(values: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Move per-slot ``values`` ``(..., n)`` back to the original piece order.

    Slot ``s`` holds source piece ``perm[..., s]``, so the result has
    ``out[..., perm[..., s]] = values[..., s]``; ``perm`` broadcasts against
    ``values``. This is how the attention map of §III-D becomes a map of
    the image (Fig. 8) rather than of the shuffled puzzle.
    """
    perm = perm.to(values.device).expand_as(values)
    return torch.empty_like(values).scatter_(-1, perm, values)


def intra_piece_tint_errors(pieces: torch.Tensor, tint: torch.Tensor, c: int,
                            layout: PieceLayout) -> torch.Tensor:
    """Eq. (9)'s L1 error of every correction ``Theta``, per piece, ``(b, n, c)``.

    ``pieces`` are the *untinted* puzzle images, ``tint`` ``(b, n)`` the
    class ``theta`` applied to each slot. Correcting the tinted piece by
    ``Theta`` leaves a hue offset of ``(theta - Theta) mod c`` turns, so the
    error of ``Theta`` is ``||x - gamma(x, ((theta - Theta) mod c) / c)||_1``
    (mean over the piece's pixels and channels, values in [0, 1]). A grey
    piece has zero error for every ``Theta``.
    """
    dev = pieces.device
    per_offset = torch.stack([piece_means((tint_rotation(
        pieces, torch.full((len(pieces),), d / c, device=dev)) - pieces).abs(), layout)
        for d in range(c)], -1)  # (b, n, c): error of a residual offset of d / c turn
    theta = torch.arange(c, device=dev)
    residual = (tint.to(dev)[..., None] - theta) % c
    return per_offset.gather(-1, residual)


class PuzzleTintTask:
    """Pretext hook of the encoder: shuffled, tinted puzzles and geometric views.

    Each image gives ``n_views`` puzzle images (``k'`` of Eq. 8) with random
    piece offsets, a random permutation (piece-wise, §III-A) or one of the
    ``k`` fixed permutations (partial, puzzle-geom-multitask.txt §3.2), and
    a random tint class per piece (§III-B, D); plus ``n_views`` random MHRot
    compositions when ``shift`` is set. Targets: ``"puzzle"`` (``(B, n)``
    original piece of each slot, or ``(B,)`` permutation class), ``"tint"``
    ``(B, n)``, ``"perm"`` ``(B, n)`` (for the attention map, which is
    indexed by original piece) and ``"geometric"`` ``(B, 3)``. Holds only
    CPU/numpy state, so a fitted net pickles anywhere.

    ``chance_loss`` is the encoder loss of a model that guesses uniformly:
    ``log n`` per slot (or ``log k``), ``log c`` per tinted piece and
    ``log 4 + 2 log 3`` for the geometric heads.
    """

    def __init__(self, layout: PieceLayout, n_views: int, puzzle: str | None,
                 perms: np.ndarray, c: int, shift: int | None):
        self.layout = layout
        self.n_views = int(n_views)
        self.puzzle = puzzle
        self.perms = perms
        self.c = int(c)
        self.shift = shift
        chance = 0.0
        if puzzle is not None:
            chance += math.log(layout.n if puzzle == "piecewise" else len(perms))
        if self.c:
            chance += math.log(self.c)
        if shift is not None:
            chance += math.log(4) + 2 * math.log(3)
        self.chance_loss = chance

    def __call__(self, x: torch.Tensor):
        dev, L = x.device, self.layout
        inputs, targets = {}, {}
        if self.puzzle is not None or self.c:
            xr = x.repeat_interleave(self.n_views, 0)
            B = len(xr)
            if self.puzzle == "piecewise":
                perm = random_permutations(B, L.n, dev)
                targets["puzzle"] = perm
            elif self.puzzle == "partial":
                cls = torch.randint(len(self.perms), (B,), device=dev)
                perm = torch.from_numpy(self.perms).to(dev)[cls]
                targets["puzzle"] = cls
            else:
                perm = torch.arange(L.n, device=dev).expand(B, L.n)
            pieces = piece_wise_puzzle(xr, perm, L, random_offsets(B, L, dev))
            if self.c:
                t = torch.randint(self.c, (B, L.n), device=dev)
                pieces = tint_rotation(pieces, piece_map(t / self.c, L))
                targets["tint"] = t
                targets["perm"] = perm
            inputs["pieces"] = pieces
        if self.shift is not None:
            pick = torch.randint(len(GEOMETRIC_LABELS), (len(x) * self.n_views,))
            labels = GEOMETRIC_LABELS[pick].to(dev)
            inputs["geometric"] = geometric_transform(x.repeat_interleave(self.n_views, 0),
                                                      labels, self.shift)
            targets["geometric"] = labels
        return inputs, targets


def fixed_puzzle_views(x: torch.Tensor, perms: torch.Tensor, layout: PieceLayout,
                       tint: torch.Tensor | None = None, c: int = 0):
    """The ``k`` fixed inference views of every image (§III-A, §III-D).

    ``perms`` ``(k, n)`` (identity first), ``tint`` ``(k, n)`` fixed tint
    classes or None. Pieces are centred in their cells. Returns the network
    input ``(b k, C, h, w)`` (tinted when ``tint`` is given) and, with tint,
    the Eq. (9) error table ``(b k, n, c)`` of :func:`intra_piece_tint_errors`
    (else None). Rows are image-major: row ``i k + j`` is view ``j`` of image ``i``.
    """
    b, k = len(x), len(perms)
    perm = perms.to(x.device).repeat(b, 1)
    pieces = piece_wise_puzzle(x.repeat_interleave(k, 0), perm, layout)
    if tint is None:
        return pieces, None
    t = tint.to(x.device).repeat(b, 1)
    errors = intra_piece_tint_errors(pieces, t, c, layout)
    return tint_rotation(pieces, piece_map(t / c, layout)), errors
