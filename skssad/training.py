"""The skorch seam: one place that builds the configured training loop.

skorch owns the loop (epochs, optimizer, callbacks, history). A pretext
task plugs in through one narrow hook: :class:`PretextNet` calls
``task(x)`` on every batch of images to obtain ``(inputs, targets)`` on the
training device, then runs the module and its criterion as usual. Every
detector builds its net through :func:`build_pretext_net`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.dataset import unpack_data

from .callbacks import EpochSchedule, EpochSeed, cosine_factor

__all__ = ["DeviceBatchLoader", "PretextNet", "autocast_context", "build_pretext_net",
           "resolve_optimizer"]


class DeviceBatchLoader:
    """Mini-batches sliced from a tensor that already lives on the device.

    A drop-in for ``torch.utils.data.DataLoader`` as skorch's
    ``iterator_train``: a whole batch is one ``index_select`` instead of
    ``batch_size`` calls to ``__getitem__`` and a collate. Shuffling draws
    from the torch RNG, which the detector seeds from ``random_state``.
    ``prepare`` (e.g. the base's uint8-to-float scaling and resize) is
    applied to each batch of ``X``, so the stored set can stay in its raw
    dtype and resolution and only a batch is ever converted.
    """

    def __init__(self, dataset, batch_size: int = 128, shuffle: bool = False,
                 drop_last: bool = False, prepare: Callable | None = None, **_ignored):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.prepare = prepare

    @staticmethod
    def _rank_and_world() -> tuple[int, int]:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _tensors(self):
        X = self.dataset.X if hasattr(self.dataset, "X") else self.dataset
        y = getattr(self.dataset, "y", None)
        return X, y

    def __len__(self) -> int:
        n = len(self._tensors()[0])
        full, rest = divmod(n, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        X, y = self._tensors()
        n = len(X)
        rank, world = self._rank_and_world()
        if self.shuffle:
            order = torch.randperm(n).to(X.device)  # the same on every rank (EpochSeed)
        else:
            order = torch.arange(n, device=X.device)
        if world > 1:
            # Data parallel: every rank takes its share of each global batch, and
            # draws its own pretext transformations (from the seed and the rank).
            torch.manual_seed(torch.initial_seed() + 7919 * rank)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            if world > 1:
                idx = idx[rank::world]
                if len(idx) == 0:
                    idx = order[start:start + 1]
            yb = y.index_select(0, idx.to(y.device)) if isinstance(y, torch.Tensor) else None
            xb = X.index_select(0, idx)
            yield (self.prepare(xb) if self.prepare is not None else xb), yb


class PretextNet(NeuralNet):
    """skorch ``NeuralNet`` whose batches pass through a pretext task.

    Parameters
    ----------
    task : callable or None
        ``task(x) -> (inputs, targets)`` turns a batch of images ``x`` of
        shape ``(b, C, H, W)`` on the device into the network's inputs and
        the pretext targets (tensors, or tuples of tensors), drawing its
        randomness from the torch RNG; a task with ``uses_labels = True``
        is called as ``task(x, y)``. ``None`` trains on ``(X, y)`` as
        given. Tasks hold CPU or numpy state only, so that a fitted net
        pickles onto a machine without CUDA.
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Mixed precision: forward passes and losses run under
        ``torch.autocast`` in bfloat16 or float16 (parameters and optimizer
        state stay float32); ``"fp16"`` scales the loss with a
        ``torch.amp.GradScaler`` so small gradients do not underflow.
    **kwargs
        Everything ``skorch.NeuralNet`` accepts (``compile=True`` compiles
        the module with ``torch.compile``).
    """

    def __init__(self, module, criterion, *args, task: Callable | None = None,
                 precision: str = "fp32", **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.task = task
        self.precision = precision

    def autocast(self):
        """The autocast context of ``precision`` (a no-op context for fp32)."""
        return autocast_context(self.precision, self.device)

    def initialize(self):
        super().initialize()
        device_type = str(self.device).split(":")[0]
        self.grad_scaler_ = (torch.amp.GradScaler(device_type) if self.precision == "fp16"
                             else None)
        return self

    def _task_batch(self, batch):
        Xi, yi = unpack_data(batch)
        if self.task is None:
            return Xi, yi
        if getattr(self.task, "uses_labels", False):
            return self.task(Xi, yi)  # e.g. AnoMem's Eq. (3) needs the batch labels
        return self.task(Xi)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """Train the epochs that remain of ``max_epochs``.

        A fresh fit trains ``max_epochs`` epochs. A fit resumed through
        :class:`skssad.callbacks.LoadInitState` starts with the saved history
        and trains only the remaining ones, so an interrupted and resumed fit
        ends where the uninterrupted one would.
        """
        if epochs is None:
            epochs = max(int(self.max_epochs) - len(self.history), 0)
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        inputs, targets = self._task_batch(batch)
        with self.autocast():
            y_pred = self.infer(inputs, **fit_params)
            loss = self.get_loss(y_pred, targets, X=inputs, training=True)
        scaler = getattr(self, "grad_scaler_", None)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        """With fp16 loss scaling, step through the ``GradScaler`` (it takes no closure)."""
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None or step_fn is None:
            return super()._step_optimizer(step_fn)
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_context(precision: str, device: str):
    """``torch.autocast`` for ``precision`` on ``device``; a null context for fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; expected one of {sorted(PRECISIONS)}.")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=str(device).split(":")[0], dtype=dtype)


def resolve_optimizer(optimizer) -> tuple[type, dict]:
    """Map the detectors' ``optimizer`` parameter to a class and its defaults.

    ``"sgd"`` is SGD with Nesterov momentum 0.9, as the papers train;
    ``"adam"`` is Adam; a ``torch.optim.Optimizer`` subclass is used as is.
    """
    if optimizer == "sgd":
        return torch.optim.SGD, {"momentum": 0.9, "nesterov": True}
    if optimizer == "adam":
        return torch.optim.Adam, {}
    return optimizer, {}


def world_size() -> int:
    """Processes of a data-parallel launch (``torchrun`` / ``accelerate launch``), else 1."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def _make_accelerated_class():
    from skorch.hf import AccelerateMixin

    class AcceleratedPretextNet(AccelerateMixin, PretextNet):
        def _initialize_accelerator(self):
            # As skorch's, but only modules with trainable parameters are wrapped
            # (DistributedDataParallel refuses a parameter-free criterion).
            if self._wrapped_with_accelerator:
                return self
            for kind, names in (("criterion", self._criteria), ("module", self._modules)):
                with self._current_init_context(kind):
                    for name in names:
                        m = getattr(self, name + "_")
                        if isinstance(m, torch.nn.Module) and any(
                                p.requires_grad for p in m.parameters()):
                            setattr(self, name + "_", self.accelerator.prepare(m))
            with self._current_init_context("optimizer"):
                for name in self._optimizers:
                    setattr(self, name + "_", self.accelerator.prepare(getattr(self, name + "_")))
            self._wrapped_with_accelerator = True
            return self

        def train_step_single(self, batch, **fit_params):
            self._set_training(True)
            inputs, targets = self._task_batch(batch)
            with self.accelerator.autocast():
                y_pred = self.infer(inputs, **fit_params)
                loss = self.get_loss(y_pred, targets, X=inputs, training=True)
            self.accelerator.backward(loss)
            return {"loss": loss, "y_pred": y_pred}

        def fit(self, X, y=None, **fit_params):
            super().fit(X, y, **fit_params)
            # Rank 0's buffers (batch-norm statistics) everywhere, then a plain net.
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                for t in self.module_.state_dict().values():
                    dist.broadcast(t, 0)
            dev = self.accelerator.device
            self.device = "cpu" if dev.type == "cpu" else str(dev)
            for attr in ("accelerator", "unwrap_after_train", "_wrapped_with_accelerator"):
                self.__dict__.pop(attr, None)
            self.__class__ = PretextNet
            return self

    return AcceleratedPretextNet


def build_pretext_net(
    module: torch.nn.Module,
    criterion,
    *,
    task: Callable | None,
    max_epochs: int,
    batch_size: int,
    lr: float,
    optimizer="sgd",
    weight_decay: float = 0.0,
    callbacks: Sequence | None = None,
    verbose: int = 0,
    device: str = "cpu",
    net_class: type[PretextNet] = PretextNet,
    schedule: str | Callable[[int, int], float] | None = "cosine",
    seed: int | None = None,
    prepare: Callable | None = None,
    distributed: bool | None = None,
    **kwargs,
) -> PretextNet:
    """Build the configured, uninitialised skorch net every detector trains with.

    ``train_split=None`` (skorch would otherwise hold out 20% of the normal
    data), the optimizer of :func:`resolve_optimizer`, the learning-rate
    ``schedule`` (``"cosine"``: cosine annealing over ``max_epochs``; ``None``:
    constant; or ``factor(epoch, max_epochs)``), per-epoch seeding from
    ``seed`` (so resumed fits match uninterrupted ones), the user's
    ``callbacks`` after ours, and a progress bar when ``verbose``.
    ``prepare`` converts each training batch (see :class:`DeviceBatchLoader`).
    ``distributed`` (default: when ``WORLD_SIZE > 1``) trains data-parallel
    through Accelerate (``[accelerate]`` extra). Extra ``kwargs`` go to the
    net unchanged (e.g. ``optimizer__betas``).
    """
    opt_class, opt_defaults = resolve_optimizer(optimizer)
    opt_params = {f"optimizer__{k}": v for k, v in opt_defaults.items()}
    opt_params["optimizer__weight_decay"] = weight_decay
    opt_params.update({k: v for k, v in kwargs.items() if k.startswith("optimizer__")})
    rest = {k: v for k, v in kwargs.items() if not k.startswith("optimizer__")}
    cbs = []
    if schedule is not None:
        factor = cosine_factor if schedule == "cosine" else schedule
        if not callable(factor):
            raise ValueError(f"schedule={schedule!r}; expected 'cosine', None or a callable "
                             "factor(epoch, max_epochs).")
        cbs.append(("lr_schedule", EpochSchedule(factor)))
    if seed is not None:
        cbs.append(("epoch_seed", EpochSeed(seed)))
    if verbose:
        cbs.append(("progress", ProgressBar()))
    for i, cb in enumerate(callbacks or ()):
        cbs.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
    accel = {}
    if distributed if distributed is not None else world_size() > 1:
        if net_class is not PretextNet:
            raise ValueError(f"Data-parallel training supports single-optimizer pretext nets; "
                             f"{net_class.__name__} is not one.")
        try:
            from accelerate import Accelerator
        except ImportError as e:
            raise ImportError("Data-parallel training needs Hugging Face Accelerate: "
                              "pip install 'skssad[accelerate]'.") from e
        net_class = _make_accelerated_class()
        mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[rest.get("precision", "fp32")]
        accel = dict(accelerator=Accelerator(cpu=str(device) == "cpu", mixed_precision=mixed))
        device = None  # the accelerator places the module
    return net_class(
        module,
        criterion,
        task=task,
        optimizer=opt_class,
        lr=lr,
        max_epochs=int(max_epochs),
        batch_size=int(batch_size),
        iterator_train=DeviceBatchLoader,
        iterator_train__shuffle=True,
        iterator_train__prepare=prepare,
        iterator_valid=DeviceBatchLoader,
        train_split=None,
        callbacks=cbs,
        verbose=int(verbose),
        device=device,
        **opt_params,
        **accel,
        **rest,
    )


class CriticNet(PretextNet):
    """A pretext net whose module has a ``critic`` trained by a second optimizer.

    skorch's documented pattern for two optimizers (``NeuralNet.train_step``):
    :meth:`initialize_optimizer` builds ``optimizer_`` for every parameter
    outside ``module_.critic`` and ``critic_optimizer_`` (same class and
    ``optimizer__`` settings) for the critic; :meth:`train_step` runs one
    forward pass per batch, steps ``optimizer_`` on the criterion's loss,
    then ``critic_optimizer_`` on ``criterion_.critic_loss(critic, inputs,
    y_pred)`` (recorded per batch as ``critic_loss``). The critic follows the
    main optimizer's learning rate, so one LR schedule drives both. With
    ``module_.critic = None`` it is an ordinary one-optimizer net. Used by
    IGD's ACAI critic (igd-interpolated-gaussian-descriptor.txt Eq. 5-6).
    """

    def _critic(self):
        return getattr(self.module_, "critic", None)

    def initialize_optimizer(self, *args, **kwargs):
        named = [(n, p) for n, p in self.module_.named_parameters()
                 if not n.startswith("critic.")]
        args_, kwargs_ = self.get_params_for_optimizer("optimizer", named)
        self.optimizer_ = self.optimizer(*args_, **kwargs_)
        if self._critic() is not None:
            args_, kwargs_ = self.get_params_for_optimizer(
                "optimizer", self._critic().named_parameters())
            self.critic_optimizer_ = self.optimizer(*args_, **kwargs_)
        return self

    def train_step(self, batch, **fit_params):
        self._set_training(True)
        inputs, targets = self._task_batch(batch)
        scaler = getattr(self, "grad_scaler_", None)  # fp16: one scaler for both steps

        def step(value, optimizer):
            (scaler.scale(value) if scaler is not None else value).backward()
            (scaler.step(optimizer) if scaler is not None else optimizer.step())

        self.optimizer_.zero_grad()
        with self.autocast():
            y_pred = self.infer(inputs, **fit_params)
            loss = self.get_loss(y_pred, targets, X=inputs, training=True)
        step(loss, self.optimizer_)
        critic = self._critic()
        if critic is not None:
            for group in self.critic_optimizer_.param_groups:
                group["lr"] = self.optimizer_.param_groups[0]["lr"]
            # zeroing also drops what the main loss's penalty term left on the critic
            self.critic_optimizer_.zero_grad()
            with self.autocast():
                critic_loss = self.criterion_.critic_loss(critic, inputs, y_pred)
            step(critic_loss, self.critic_optimizer_)
            self.history.record_batch("critic_loss", float(critic_loss.item()))
        if scaler is not None:
            scaler.update()
        return {"loss": loss, "y_pred": y_pred}
