"""skorch callbacks of skssad: schedules that resume, per-epoch seeding, safe checkpoints.

Every detector's net gets :class:`EpochSchedule` (the learning-rate
schedule, computed in closed form from the epoch index, so a resumed fit
continues the same schedule) and :class:`EpochSeed` (the torch RNG re-seeded
at each epoch from ``random_state``, so a resumed fit draws the same
batches and transformations as an uninterrupted one). Users checkpoint with
:class:`Checkpoint` and resume with :class:`LoadInitState`: drop-in
subclasses of skorch's that write atomically, raise on write errors and
refuse to resume from an incomplete set of files.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable

import torch
from skorch.callbacks import Callback
from skorch.callbacks import Checkpoint as _SkorchCheckpoint
from skorch.callbacks import LoadInitState as _SkorchLoadInitState

__all__ = ["Checkpoint", "EStep", "EpochSchedule", "EpochSeed", "LoadInitState", "MemoryWarmup",
           "cosine_factor", "poly_factor", "prefixed_checkpoints"]


def prefixed_checkpoints(callbacks, prefix: str) -> list:
    """A deep copy of ``callbacks`` whose checkpoints write files prefixed ``prefix``.

    One deep copy of the whole list keeps references between callbacks
    (``LoadInitState(checkpoint)``) pointing at the copies, and gives each
    user of the copy its own stateful callbacks, so two nets (or two members
    of a seed ensemble) never share an early-stopping counter or write the
    same checkpoint file.
    """
    import copy

    cbs = copy.deepcopy(list(callbacks or ()))
    seen = set()
    stack = [cb[1] if isinstance(cb, tuple) else cb for cb in cbs]
    while stack:
        cb = stack.pop()
        if id(cb) in seen:
            continue
        seen.add(id(cb))
        if isinstance(cb, _SkorchCheckpoint):
            cb.fn_prefix = f"{cb.fn_prefix}{prefix}"
        for attr in ("checkpoint", "checkpoint_"):
            inner = getattr(cb, attr, None)
            if inner is not None and not isinstance(inner, str | bool):
                stack.append(inner)
    return cbs


def cosine_factor(epoch: int, max_epochs: int) -> float:
    """Cosine annealing from 1 at epoch 0 to 0 at ``max_epochs`` (SGDR without restarts)."""
    return 0.5 * (1.0 + math.cos(math.pi * epoch / max(int(max_epochs), 1)))


def poly_factor(epoch: int, max_epochs: int) -> float:
    """Polynomial decay (power 0.9) from 1 at epoch 0 to 0 at ``max_epochs`` (IGD, §4.2)."""
    return (1.0 - epoch / max(int(max_epochs), 1)) ** 0.9


class EStep(Callback):
    """The E-step of an EM fit before every epoch: ``estep(X_train, first=...)``.

    IGD's Eq. (7) re-estimates the descriptor's latent variables from the
    current encoder before each epoch (§3.1); ``first`` is true before the
    first epoch of a fit (not of a resumed one).
    """

    def __init__(self, estep: Callable):
        self.estep = estep

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self.estep(dataset_train.X, first=len(net.history) <= 1)


class MemoryWarmup(Callback):
    """Train without the memory for the first ``epochs`` epochs, then with it.

    Sets ``net.criterion_.use_memory`` before every epoch from the epoch
    index alone (so a resumed fit is in the same phase), and calls
    ``start(X, y)`` on the training data before the first epoch with the
    memory, to place the patterns (AnoMem's ``memory_warmup``, ours).
    """

    def __init__(self, epochs: int, start: Callable):
        self.epochs = int(epochs)
        self.start = start

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        epoch = len(net.history) - 1
        net.criterion_.use_memory = epoch >= self.epochs
        if epoch == self.epochs:
            self.start(dataset_train.X, dataset_train.y)


class EpochSchedule(Callback):
    """Set every optimizer's learning rate to ``initial_lr * factor(epoch, max_epochs)``.

    The rate is a function of the epoch index alone (``len(net.history) - 1``
    at the start of an epoch), never of callback state, so a fit resumed
    from a checkpoint continues the schedule it was on. Each parameter
    group's ``initial_lr`` is recorded in the optimizer state (and so in its
    checkpoint) the first time the schedule sees it.

    Parameters
    ----------
    factor : callable
        ``factor(epoch, max_epochs) -> float``; :func:`cosine_factor` by default.
    """

    def __init__(self, factor: Callable[[int, int], float] = cosine_factor):
        self.factor = factor

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        f = float(self.factor(epoch, net.max_epochs))
        for name in net._optimizers:
            for group in getattr(net, name + "_").param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * f


class EpochSeed(Callback):
    """Re-seed torch at the start of every epoch with ``seed + epoch``.

    Shuffling, pretext transformations and dropout of epoch ``e`` then
    depend on ``(seed, e)`` only, so a fit resumed at epoch ``e`` continues
    exactly as the uninterrupted fit would have.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_epoch_begin(self, net, **kwargs):
        torch.manual_seed(self.seed + len(net.history) - 1)


class Checkpoint(_SkorchCheckpoint):
    """skorch's ``Checkpoint``, written atomically and loudly.

    Each file is written to ``<file>.tmp`` and renamed over the previous
    checkpoint only once complete, so a process killed during a write keeps
    the last good checkpoint. Any error while writing (a full disk, a
    permission problem) is raised instead of logged, so a fit never
    "succeeds" with a stale checkpoint. Parameters are those of
    ``skorch.callbacks.Checkpoint``; the history is renamed last, so a
    complete history always belongs to complete parameter files.
    """

    def register_optimizers(self, net) -> None:
        """Add ``f_<name> = "<name>.pt"`` for every optimizer of ``net`` beyond
        ``optimizer`` (IGD's ``critic_optimizer``), so that its state is saved and
        resumed too; skorch's defaults name only ``optimizer``."""
        if not isinstance(getattr(self, "f_optimizer", None), str):
            return
        for name in getattr(net, "_optimizers", ()):
            if name != "optimizer" and getattr(self, f"f_{name}", None) is None:
                setattr(self, f"f_{name}", f"{name}.pt")

    def on_train_begin(self, net, **kwargs):
        self.register_optimizers(net)
        return super().on_train_begin(net, **kwargs)

    def _save_params(self, f, net, f_name, log_name):
        if not isinstance(f, str | os.PathLike):
            net.save_params(**{f_name: f, "use_safetensors": self.use_safetensors})
            return
        tmp = f"{os.fspath(f)}.tmp"
        try:
            net.save_params(**{f_name: tmp, "use_safetensors": self.use_safetensors})
            os.replace(tmp, f)
        except Exception as e:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise OSError(f"Checkpoint could not write the {log_name} to {f!r}: "
                          f"{type(e).__name__}: {e}") from e

    def checkpoint_files(self, net=None) -> dict[str, str]:
        """The files this checkpoint writes: ``{"f_params": path, ...}``."""
        if net is not None:
            self.register_optimizers(net)
        out = {}
        extra = sorted(k for k in vars(self) if k.startswith("f_") and k.endswith("optimizer")
                       and k != "f_optimizer")
        for key in ("f_params", "f_optimizer", *extra, "f_criterion", "f_history"):
            val = getattr(self, key, None)
            if isinstance(val, str) and "{" not in val:  # templated names vary by epoch
                out[key] = (self.f_history_ if key == "f_history"
                            else os.path.join(self.dirname, self.fn_prefix + val))
        return out


class LoadInitState(_SkorchLoadInitState):
    """Resume from a :class:`Checkpoint`, refusing an incomplete set of files.

    With none of the checkpoint's files present the fit starts fresh (as
    skorch's). With some present and others missing (a half-copied
    checkpoint folder, a deleted ``optimizer.pt``) it raises a
    ``ValueError`` naming the missing files instead of silently resuming
    with a fresh optimizer. Files are loaded with ``weights_only=True``.
    The resumed fit trains the epochs that remain of ``max_epochs`` and
    continues the same learning-rate schedule.
    """

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.did_load_:
            return
        cp = self.checkpoint
        files = (cp.checkpoint_files(net) if isinstance(cp, Checkpoint) else
                 {k: v for k, v in cp.get_formatted_files(net).items()
                  if k != "f_pickle" and isinstance(v, str)})
        present = {k: os.path.exists(v) for k, v in files.items()}
        if not any(present.values()):
            self.did_load_ = True
            return
        missing = [files[k] for k, ok in present.items() if not ok]
        if missing:
            raise ValueError(f"Cannot resume: the checkpoint in {cp.dirname!r} is incomplete; "
                             f"missing {missing}. Remove the folder to start afresh.")
        self.did_load_ = True
        net.load_params(checkpoint=cp, use_safetensors=self.use_safetensors)
