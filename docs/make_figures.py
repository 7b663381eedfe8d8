"""Render the pretext-task figures of the detector pages from real images.

Run from the repository root (takes well under a minute on one CPU core)::

    OMP_NUM_THREADS=1 python docs/make_figures.py            # every figure
    OMP_NUM_THREADS=1 python docs/make_figures.py puzzle tint  # some of them

The PNGs go to ``docs/_static/figures/`` and are committed, so the docs build
never trains or runs a network. Every figure is made by the library's own
pretext transforms (``skssad.tasks.*``) on scikit-image's photographs or
scikit-learn's digits. A figure whose task module is not in the package
(yet) is skipped with a message instead of failing the whole script.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "_static" / "figures"


class Skip(Exception):
    """The figure's task is not available in this checkout."""


def _optional(module: str, *names: str):
    """``getattr(import_module(module), name)`` for the first name that exists."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Skip(f"{module} is not available ({exc})") from exc
    for name in names:
        if hasattr(mod, name):
            return getattr(mod, name)
    raise Skip(f"{module} has none of {names}")


def _photo(name: str, size: int = 96) -> torch.Tensor:
    """A scikit-image photograph as a (1, 3, size, size) float tensor in [0, 1]."""
    from skimage import data
    from skimage.transform import resize

    img = getattr(data, name)()
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    img = resize(img, (size, size), anti_aliasing=True)
    return torch.tensor(img, dtype=torch.float32).permute(2, 0, 1)[None]


def _show(ax, img: torch.Tensor, title: str = "") -> None:
    arr = img.detach().cpu().float()
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = arr.permute(1, 2, 0)
    arr = arr.squeeze(-1).clamp(0, 1).numpy() if arr.ndim == 3 else arr.numpy()
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def figure_geometric():
    from skssad.tasks.geometric import GEOMETRIC_LABELS, geometric_transform

    x = _photo("chelsea", 64)
    picks = [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 0), (0, 1, 0), (0, 2, 0), (0, 0, 1),
             (1, 2, 2)]
    idx = [int(((GEOMETRIC_LABELS == torch.tensor(p)).all(1)).nonzero()[0]) for p in picks]
    labels = GEOMETRIC_LABELS[idx]
    views = geometric_transform(x.repeat(len(idx), 1, 1, 1), labels, shift=16)
    fig, axes = plt.subplots(1, len(idx), figsize=(2 * len(idx), 2.3))
    for ax, v, (r, s, t) in zip(axes, views, labels.tolist(), strict=True):
        _show(ax, v, f"rot {90 * r}°, s={(0, -1, 1)[s]}, t={(0, -1, 1)[t]}")
    fig.suptitle("GeometricTransformDetector: which rotation r and translation (s, t)?")
    return _save(fig, "geometric")


def figure_puzzle():
    from skssad.tasks.puzzle import cut_pieces, piece_layout, piece_wise_puzzle

    torch.manual_seed(0)
    x = _photo("astronaut", 96)
    layout = piece_layout(96, 96, 3, 3)
    ordered = cut_pieces(x, layout)
    perm = torch.randperm(layout.n)[None]
    shuffled = piece_wise_puzzle(x, perm, layout)
    fig, axes = plt.subplots(1, 3, figsize=(8, 3))
    _show(axes[0], x[0], "image (3x3 cells)")
    for i in range(1, 3):
        axes[0].axhline(32 * i, color="w", lw=1)
        axes[0].axvline(32 * i, color="w", lw=1)
    _show(axes[1], ordered[0], "pieces without margins")
    _show(axes[2], shuffled[0], "shuffled: target " + " ".join(map(str, perm[0].tolist())))
    fig.suptitle("Piece-wise puzzle (§III-A): predict each piece's original position")
    return _save(fig, "puzzle")


def figure_tint():
    from skssad.tasks.color import tint_rotation
    from skssad.tasks.puzzle import piece_layout, piece_map

    x = _photo("coffee", 96)
    c = 4
    turns = torch.arange(c, dtype=torch.float32) / c
    rotated = tint_rotation(x.repeat(c, 1, 1, 1), turns)
    layout = piece_layout(96, 96, 3, 3)
    per_piece = torch.randint(0, c, (1, layout.n), generator=torch.Generator().manual_seed(1))
    tmap = piece_map(per_piece.float() / c, layout)
    canvas = x[..., :tmap.shape[-2], :tmap.shape[-1]]
    mixed = tint_rotation(canvas, tmap)
    fig, axes = plt.subplots(1, c + 1, figsize=(2.2 * (c + 1), 2.6))
    for ax, v, t in zip(axes, rotated, turns.tolist(), strict=False):
        _show(ax, v, f"hue + {int(360 * t)}°")
    _show(axes[-1], mixed[0], "per piece (§III-D)")
    fig.suptitle(f"Tint rotation (§III-B): which of c={c} hue offsets was applied?")
    return _save(fig, "tint")


def figure_colorization():
    from skssad.tasks.color import lab_to_rgb, partial_colorization

    x = _photo("chelsea", 96)
    border = 10
    inputs, targets = partial_colorization(x, border)
    L = inputs[:, :1] * 100.0
    gray = lab_to_rgb(torch.cat([L, torch.zeros_like(targets)], 1))
    given = lab_to_rgb(torch.cat([L, inputs[:, 1:] * 110.0], 1))
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.8))
    _show(axes[0], gray[0], "input L")
    _show(axes[1], given[0], f"+ colours on a border b={border}")
    _show(axes[2], x[0], "target colours (A, B)")
    fig.suptitle("Partial colorization (§III-C): predict the colours inside")
    return _save(fig, "colorization")


def figure_anomem():
    views_fn = _optional("skssad.tasks.contrastive", "contrastive_view", "contrastive_views")
    x = _photo("chelsea", 64).repeat(6, 1, 1, 1)
    torch.manual_seed(0)
    views = views_fn(x)[:6]
    fig, axes = plt.subplots(1, len(views) + 1, figsize=(2 * (len(views) + 1), 2.4))
    _show(axes[0], x[0], "image")
    for ax, v in zip(axes[1:], views, strict=True):
        _show(ax, v, "view")
    fig.suptitle("AnoMem (§4.2): random contrastive views of one image")
    return _save(fig, "anomem_views")


def figure_igd():
    from sklearn.datasets import load_digits

    from skssad import IGDDetector  # noqa: F401  (raises ImportError -> skipped)

    X, y = load_digits(return_X_y=True)
    det = IGDDetector(encoder_widths=(16, 32), decoder_widths=(32, 16), latent_dim=16,
                      input_size=16, max_epochs=15, batch_size=32, random_state=0,
                      device="cpu")
    det.fit(X[y == 0].reshape(-1, 8, 8))
    test = np.concatenate([X[y == 0][-3:], X[y == 7][:3]]).reshape(-1, 8, 8)
    maps = det.anomaly_map(test)
    scores = det.score_samples(test)
    recon = None
    try:  # IGDNet.forward(x) -> (z, x_rec); the base turns images into its input tensor
        x = det._as_tensor(test, reset=False)
        det.net_.module_.eval()
        with torch.no_grad():
            out = det.net_.module_(x)
        recon = out[1] if isinstance(out, tuple) else None
    except Exception as exc:  # private API changed: draw the figure without that row
        print(f"igd: no reconstructions ({exc})")
    rows = 3 if recon is not None and torch.is_tensor(recon) and recon.ndim == 4 else 2
    fig, axes = plt.subplots(rows, len(test), figsize=(1.6 * len(test), 1.7 * rows))
    for j in range(len(test)):
        _show(axes[0, j], torch.tensor(test[j] / 16.0), f"score {scores[j]:.2f}")
        if rows == 3:
            _show(axes[1, j], recon[j], "reconstruction")
        # one colour scale for all maps, so they compare across images
        axes[-1, j].imshow(maps[j], cmap="inferno", vmin=maps.min(), vmax=maps.max())
        axes[-1, j].set_xticks([])
        axes[-1, j].set_yticks([])
        axes[-1, j].set_title("anomaly map", fontsize=9)
    fig.suptitle("IGDDetector trained on digit 0: three 0s, then three 7s "
                 "(maps on one colour scale)")
    return _save(fig, "igd")


def figure_frames():
    make = _optional("skssad.datasets", "make_moving_digits")
    tasks = importlib.import_module("skssad.tasks")
    if not hasattr(tasks, "shuffle_frames"):
        raise Skip("skssad.tasks has no shuffle_frames")
    videos, _ = make(10, n_frames=20, size=32, noise=0.02, random_state=0, return_X_y=True)
    v = torch.tensor(np.asarray(videos[0], dtype=np.float32))  # (T, H, W[, C])
    if v.max() > 1:
        v = v / 255.0
    m, skip = 5, 2
    seg = tasks.extract_segments(v[None, :, None] if v.ndim == 3 else v[None], m, skip)[0, :1]
    perm = torch.tensor([[3, 0, 4, 1, 2]])
    shuffled = tasks.shuffle_frames(seg, perm)
    frames = np.asarray(tasks.segment_indices(len(v), m, skip)[0])
    fig, axes = plt.subplots(2, m, figsize=(1.8 * m, 4.2))
    for j in range(m):
        _show(axes[0, j], seg[0, j], f"frame {frames[j] + 1}")
        _show(axes[1, j], shuffled[0, j], f"slot {j}: frame {frames[perm[0, j]] + 1}")
    fig.suptitle(f"Frame permutation (§III-A): M={m} frames, skip {skip}; which of the "
                 f"{int(np.prod(range(1, m + 1)))} orders?")
    return _save(fig, "frames")


def _accepts(fn, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


FIGURES = {
    "geometric": figure_geometric,
    "puzzle": figure_puzzle,
    "tint": figure_tint,
    "colorization": figure_colorization,
    "anomem": figure_anomem,
    "igd": figure_igd,
    "frames": figure_frames,
}


def main(names: list[str]) -> int:
    torch.set_num_threads(1)
    failed = 0
    for name in names or list(FIGURES):
        try:
            print(f"{name}: wrote {FIGURES[name]().relative_to(ROOT)}")
        except (Skip, ImportError) as exc:
            print(f"{name}: skipped ({exc})")
        except Exception:  # a broken figure must not hide the others
            failed += 1
            print(f"{name}: FAILED")
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
